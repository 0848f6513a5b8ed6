// The encoder backward kernels against central differences of float64 references of
// their forwards: LayerNorm, attention, embeddings, bias, row scatter, cross-entropy with
// label smoothing. Each check prints its relative error. Gradients that are sums over
// rows must come out bit-identical for any thread count.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <string>

#include "../core/error.h"
#include "../core/thread_pool.h"
#include "backend_checks.h"
#include "check.h"
#include "grad_check.h"
#include "test_device.h"

namespace tf::test {
namespace {

std::vector<double> layernorm64(const std::vector<double>& x, const std::vector<double>& w, const std::vector<double>& b,
                                int64_t rows, int64_t cols, double eps) {
  std::vector<double> y(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double m = 0, v = 0;
    for (int64_t c = 0; c < cols; ++c) m += x[r * cols + c];
    m /= double(cols);
    for (int64_t c = 0; c < cols; ++c) v += (x[r * cols + c] - m) * (x[r * cols + c] - m);
    const double s = 1.0 / std::sqrt(v / double(cols) + eps);
    for (int64_t c = 0; c < cols; ++c) y[r * cols + c] = (x[r * cols + c] - m) * s * w[c] + b[c];
  }
  return y;
}

TEST("layernorm backward against finite differences; it accumulates into dinp, dweight, dbias") {
  Backend& be = device_backend();
  for (int64_t cols : {7, 33, 64}) {
    const int64_t rows = 150;  // more than two blocks of the row reduction
    const double eps = 1e-5;
    auto x = random_vector(size_t(rows * cols), 101 + uint32_t(cols), -2.0f, 2.0f);
    for (size_t i = 0; i < x.size(); ++i) x[i] += 3.0f * float(i % 5);  // row means that differ
    auto w = random_vector(size_t(cols), 102, 0.5f, 1.5f), b = random_vector(size_t(cols), 103);
    auto dy = random_vector(x.size(), 104);
    auto dinp0 = random_vector(x.size(), 105), dw0 = random_vector(size_t(cols), 106), db0 = random_vector(size_t(cols), 107);
    auto dx_ = to_device(be, x), dw_ = to_device(be, w), db_ = to_device(be, b), ddy = to_device(be, dy);
    DeviceBuffer out(be, x.size() * sizeof(float)), mean(be, size_t(rows) * sizeof(float)), rstd(be, size_t(rows) * sizeof(float));
    auto gin = to_device(be, dinp0), gw = to_device(be, dw0), gb = to_device(be, db0);
    if (!runs_on_backend([&] {
          be.layernorm_forward(out.get<float>(), mean.get<float>(), rstd.get<float>(), dx_.get<float>(), dw_.get<float>(),
                               db_.get<float>(), rows, cols, float(eps));
          be.layernorm_backward(gin.get<float>(), gw.get<float>(), gb.get<float>(), ddy.get<float>(), dx_.get<float>(),
                                mean.get<float>(), rstd.get<float>(), dw_.get<float>(), rows, cols);
        }))
      return;
    auto gi = to_host(gin), gwh = to_host(gw), gbh = to_host(gb);
    for (size_t i = 0; i < gi.size(); ++i) gi[i] -= dinp0[i];
    for (int64_t c = 0; c < cols; ++c) {
      gwh[size_t(c)] -= dw0[size_t(c)];
      gbh[size_t(c)] -= db0[size_t(c)];
    }
    const auto X = to_double(x), Wd = to_double(w), Bd = to_double(b), DY = to_double(dy);
    auto fx = numeric_gradient(X, [&](const std::vector<double>& v) { return dot(layernorm64(v, Wd, Bd, rows, cols, eps), dy); });
    auto fw = numeric_gradient(Wd, [&](const std::vector<double>& v) { return dot(layernorm64(X, v, Bd, rows, cols, eps), dy); });
    auto fb = numeric_gradient(Bd, [&](const std::vector<double>& v) { return dot(layernorm64(X, Wd, v, rows, cols, eps), dy); });
    const double ex = relative_error(gi, fx), ew = relative_error(gwh, fw), eb = relative_error(gbh, fb);
    std::printf("    cols %lld: dinp %.2e, dweight %.2e, dbias %.2e (relative error)\n", (long long)cols, ex, ew, eb);
    CHECK(ex < 2e-5);
    CHECK(ew < 2e-5);
    CHECK(eb < 2e-5);
    (void)DY;
  }
}

TEST("layernorm and bias backward are the same for 1, 2 and 3 threads") {
  Backend& be = device_backend();
  if (be.device() != Device::Cpu) return;
  const int64_t rows = 1000, cols = 96;
  auto x = random_vector(size_t(rows * cols), 111, -3.0f, 3.0f), w = random_vector(size_t(cols), 112);
  auto b = random_vector(size_t(cols), 113), dy = random_vector(x.size(), 114);
  std::vector<float> out(x.size()), mean(static_cast<size_t>(rows)), rstd(static_cast<size_t>(rows));
  be.layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), rows, cols, 1e-6f);
  check_thread_independent("layernorm_backward", [&] {
    std::vector<float> r(x.size() + 2 * size_t(cols), 0.0f);
    be.layernorm_backward(r.data(), r.data() + x.size(), r.data() + x.size() + cols, dy.data(), x.data(), mean.data(),
                          rstd.data(), w.data(), rows, cols);
    return r;
  });
  check_thread_independent("bias_backward", [&] {
    std::vector<float> r(size_t(cols), 0.5f);
    be.bias_backward(r.data(), dy.data(), rows, cols);
    return r;
  });
}

// softmax(Q Kᵀ / sqrt d) V per (sample, head), in double.
std::vector<double> attention64(const std::vector<double>& qkv, int64_t B, int64_t T, int64_t C, int64_t NH) {
  const int64_t d = C / NH;
  std::vector<double> out(size_t(B * T * C));
  std::vector<double> p(static_cast<size_t>(T));
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < NH; ++h)
      for (int64_t i = 0; i < T; ++i) {
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < T; ++j) {
          double s = 0;
          for (int64_t k = 0; k < d; ++k)
            s += qkv[size_t((b * T + i) * 3 * C + h * d + k)] * qkv[size_t((b * T + j) * 3 * C + C + h * d + k)];
          p[size_t(j)] = s / std::sqrt(double(d));
          mx = std::max(mx, p[size_t(j)]);
        }
        for (auto& v : p) sum += (v = std::exp(v - mx));
        for (int64_t k = 0; k < d; ++k) {
          double o = 0;
          for (int64_t j = 0; j < T; ++j) o += p[size_t(j)] / sum * qkv[size_t((b * T + j) * 3 * C + 2 * C + h * d + k)];
          out[size_t((b * T + i) * C + h * d + k)] = o;
        }
      }
  return out;
}

TEST("attention backward against finite differences, several shapes") {
  Backend& be = device_backend();
  struct Shape { int64_t B, T, C, NH; };
  for (Shape s : {Shape{1, 1, 4, 1}, Shape{2, 5, 12, 3}, Shape{2, 17, 32, 2}, Shape{1, 50, 64, 4}, Shape{1, 9, 80, 2}}) {
    auto qkv = random_vector(size_t(s.B * s.T * 3 * s.C), 121 + uint32_t(s.T), -1.5f, 1.5f);
    auto dout = random_vector(size_t(s.B * s.T * s.C), 122);
    auto dq = to_device(be, qkv), ddout = to_device(be, dout);
    DeviceBuffer out(be, dout.size() * sizeof(float)), att(be, size_t(s.B * s.NH * s.T * s.T) * sizeof(float)),
        dqkv(be, qkv.size() * sizeof(float));
    if (!runs_on_backend([&] {
          be.attention_forward(out.get<float>(), att.get<float>(), dq.get<float>(), s.B, s.T, s.C, s.NH, s.T);
          be.attention_backward(dqkv.get<float>(), ddout.get<float>(), dq.get<float>(), att.get<float>(), s.B, s.T, s.C,
                                s.NH);
        }))
      return;
    auto g = to_host(dqkv);
    // Every entry for small shapes, an even spread of 300 for large ones.
    std::vector<size_t> idx;
    const size_t n = qkv.size(), stride = std::max<size_t>(1, n / 300);
    for (size_t i = 0; i < n; i += stride) idx.push_back(i);
    auto fd = numeric_gradient(to_double(qkv), [&](const std::vector<double>& v) { return dot(attention64(v, s.B, s.T, s.C, s.NH), dout); }, idx);
    const double e = relative_error(g, fd, idx);
    std::printf("    B%lld T%lld C%lld heads %lld: dqkv relative error %.2e over %zu entries\n", (long long)s.B,
                (long long)s.T, (long long)s.C, (long long)s.NH, e, idx.size());
    CHECK(e < 5e-5);
  }
}

TEST("embeddings backward: patch rows copied, CLS and positions summed over the batch") {
  Backend& be = device_backend();
  const int64_t B = 3, P = 4, C = 5, T = P + 1;
  auto dembed = random_vector(size_t(B * T * C), 131);
  auto dcls0 = random_vector(size_t(C), 132), dpos0 = random_vector(size_t(T * C), 133);
  auto de = to_device(be, dembed), dc = to_device(be, dcls0), dp = to_device(be, dpos0);
  DeviceBuffer dpatch(be, size_t(B * P * C) * sizeof(float));
  if (!runs_on_backend([&] {
        be.embeddings_backward(dpatch.get<float>(), dc.get<float>(), dp.get<float>(), de.get<float>(), B, P, C);
      }))
    return;
  auto patch = to_host(dpatch), cls = to_host(dc), pos = to_host(dp);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t p = 0; p < P; ++p)
      for (int64_t c = 0; c < C; ++c) CHECK(patch[size_t((b * P + p) * C + c)] == dembed[size_t((b * T + 1 + p) * C + c)]);
  for (int64_t t = 0; t < T; ++t)
    for (int64_t c = 0; c < C; ++c) {
      double s = 0;
      for (int64_t b = 0; b < B; ++b) s += dembed[size_t((b * T + t) * C + c)];
      CHECK_NEAR(pos[size_t(t * C + c)], dpos0[size_t(t * C + c)] + s, 1e-6);
      if (t == 0) CHECK_NEAR(cls[size_t(c)], dcls0[size_t(c)] + s, 1e-6);
    }
}

TEST("bias backward and row scatter against float64") {
  Backend& be = device_backend();
  const int64_t rows = 200, cols = 37;
  auto dy = random_vector(size_t(rows * cols), 141), db0 = random_vector(size_t(cols), 142);
  auto ddy = to_device(be, dy), ddb = to_device(be, db0);
  if (!runs_on_backend([&] { be.bias_backward(ddb.get<float>(), ddy.get<float>(), rows, cols); })) return;
  auto db = to_host(ddb);
  for (int64_t c = 0; c < cols; ++c) {
    // Float partial sums over blocks of rows: the error scales with the sum of |terms|.
    double s = db0[size_t(c)], magnitude = std::fabs(s);
    for (int64_t r = 0; r < rows; ++r) {
      s += dy[size_t(r * cols + c)];
      magnitude += std::fabs(dy[size_t(r * cols + c)]);
    }
    CHECK_NEAR(db[size_t(c)], s, 1e-7 * magnitude);
  }
  const int64_t stride = 3 * cols;
  auto dst0 = random_vector(size_t(4 * stride), 143), src = random_vector(size_t(4 * cols), 144);
  auto ddst = to_device(be, dst0), dsrc = to_device(be, src);
  be.scatter_add_rows(ddst.get<float>(), dsrc.get<float>(), 4, cols, stride);
  auto dst = to_host(ddst);
  for (int64_t i = 0; i < 4 * stride; ++i) {
    const int64_t r = i / stride, c = i % stride;
    CHECK(dst[size_t(i)] == (c < cols ? dst0[size_t(i)] + src[size_t(r * cols + c)] : dst0[size_t(i)]));
  }
}

TEST("cross entropy with label smoothing: losses and gradient against float64") {
  Backend& be = device_backend();
  const int64_t rows = 7, classes = 10;
  auto logits = random_vector(size_t(rows * classes), 151, -6.0f, 6.0f);
  std::vector<int32_t> labels(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) labels[size_t(r)] = int32_t((r * 3) % classes);
  for (float e : {0.0f, 0.1f, 0.3f}) {
    const float scale = 1.0f / float(rows);
    auto dl = to_device(be, logits);
    DeviceBuffer dlab(be, labels.size() * sizeof(int32_t)), dloss(be, size_t(rows) * sizeof(float)),
        dgrad(be, logits.size() * sizeof(float));
    dlab.upload(labels.data());
    if (!runs_on_backend([&] {
          be.cross_entropy_backward(dgrad.get<float>(), dloss.get<float>(), dl.get<float>(), dlab.get<int32_t>(), rows,
                                    classes, e, scale);
        }))
      return;
    auto loss = to_host(dloss), grad = to_host(dgrad);
    auto row_loss = [&](const std::vector<double>& z, int64_t r) {
      double m = -1e300, s = 0, zs = 0;
      for (int64_t c = 0; c < classes; ++c) m = std::max(m, z[size_t(r * classes + c)]);
      for (int64_t c = 0; c < classes; ++c) {
        s += std::exp(z[size_t(r * classes + c)] - m);
        zs += z[size_t(r * classes + c)];
      }
      const double lse = m + std::log(s);
      return lse - (1 - e) * z[size_t(r * classes + labels[size_t(r)])] - e * zs / double(classes);
    };
    const auto Z = to_double(logits);
    for (int64_t r = 0; r < rows; ++r) CHECK_NEAR(loss[size_t(r)], row_loss(Z, r), 1e-5);
    auto fd = numeric_gradient(Z, [&](const std::vector<double>& z) {
      double s = 0;
      for (int64_t r = 0; r < rows; ++r) s += row_loss(z, r);
      return s * scale;
    });
    const double err = relative_error(grad, fd);
    std::printf("    smoothing %.1f: dlogits relative error %.2e\n", double(e), err);
    CHECK(err < 1e-6);
  }
}

}  // namespace
}  // namespace tf::test
