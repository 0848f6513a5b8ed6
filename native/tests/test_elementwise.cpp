// GELU (forward and backward) and axpby on the selected backend against float64.
#include <cmath>

#include "check.h"
#include "test_device.h"

namespace tf::test {
namespace {

double gelu_ref(double x) { return 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))); }

TEST("gelu forward against float64") {
  Backend& be = device_backend();
  const int64_t n = 100003;  // not a multiple of any block or chunk size
  auto x = random_vector(size_t(n), 11, -8.0f, 8.0f);
  x[0] = 0.0f;
  x[1] = -20.0f;
  x[2] = 20.0f;
  auto dx = to_device(be, x);
  DeviceBuffer dy(be, x.size() * sizeof(float));
  be.gelu_forward(dy.get<float>(), dx.get<float>(), n);
  auto y = to_host(dy);
  for (int64_t i = 0; i < n; ++i) CHECK_NEAR(y[i], gelu_ref(x[i]), 2e-6 * (1.0 + std::fabs(x[i])));
}

TEST("gelu backward against finite differences of the float64 forward") {
  Backend& be = device_backend();
  const int64_t n = 5001;
  auto x = random_vector(size_t(n), 12, -6.0f, 6.0f);
  auto g = random_vector(size_t(n), 13);
  auto dx = to_device(be, x), dg = to_device(be, g);
  DeviceBuffer dd(be, x.size() * sizeof(float));
  be.gelu_backward(dd.get<float>(), dx.get<float>(), dg.get<float>(), n);
  auto d = to_host(dd);
  const double h = 1e-5;
  for (int64_t i = 0; i < n; ++i) {
    double fd = (gelu_ref(x[i] + h) - gelu_ref(x[i] - h)) / (2 * h);
    CHECK_NEAR(d[i], g[i] * fd, 1e-5);
  }
}

TEST("axpby against float64, beta == 0 ignores NaN in y") {
  Backend& be = device_backend();
  const int64_t n = 70001;
  auto x = random_vector(size_t(n), 14), y = random_vector(size_t(n), 15);
  auto dx = to_device(be, x), dy = to_device(be, y);
  be.axpby(dy.get<float>(), dx.get<float>(), 0.3f, 0.7f, n);
  auto out = to_host(dy);
  for (int64_t i = 0; i < n; ++i) CHECK_NEAR(out[i], 0.3 * x[i] + 0.7 * y[i], 1e-6);

  std::vector<float> nan_y(size_t(n), std::nanf(""));
  auto dn = to_device(be, nan_y);
  be.axpby(dn.get<float>(), dx.get<float>(), 2.0f, 0.0f, n);
  out = to_host(dn);
  for (int64_t i = 0; i < n; ++i) CHECK_NEAR(out[i], 2.0 * x[i], 1e-6);
}

TEST("dot against float64") {
  Backend& be = device_backend();
  for (int64_t n : {int64_t(0), int64_t(1), int64_t(1000), int64_t(300007)}) {
    auto x = random_vector(size_t(n), 16), y = random_vector(size_t(n), 17);
    double ref = 0.0;
    for (int64_t i = 0; i < n; ++i) ref += double(x[size_t(i)]) * double(y[size_t(i)]);
    auto dx = to_device(be, x), dy = to_device(be, y);
    CHECK_NEAR(be.dot(dx.get<float>(), dy.get<float>(), n), ref, 1e-9 * (1.0 + double(n)));
  }
}

}  // namespace
}  // namespace tf::test
