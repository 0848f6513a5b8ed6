// Backward twins of the text encoder's kernels: token_embeddings_backward (word, position
// and token-type tables, repeated ids summed), tanh_backward against central differences
// of a float64 tanh, scatter_add_rows_indexed (repeated indices summed). The scatters must
// give the same bits for 1, 2 and 3 threads. On a backend without a twin, the test says
// so and passes.
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

DeviceBuffer ints(Backend& be, const std::vector<int32_t>& host) {
  DeviceBuffer buf(be, host.size() * sizeof(int32_t));
  be.copy_from_host(buf.get(), host.data(), host.size() * sizeof(int32_t));
  return buf;
}

TEST("token embeddings backward: word, position and type rows accumulate, repeated ids summed") {
  Backend& be = device_backend();
  const int64_t B = 3, T = 6, C = 37, V = 5, P = 8, TV = 2;
  auto dout = random_vector(size_t(B * T * C), 201);
  std::vector<int32_t> ids(size_t(B * T)), types(size_t(B * T));
  for (int64_t r = 0; r < B * T; ++r) ids[size_t(r)] = int32_t((r * 3 + 1) % V), types[size_t(r)] = int32_t((r / 2) % TV);
  auto start_w = random_vector(size_t(V * C), 202), start_p = random_vector(size_t(P * C), 203),
       start_t = random_vector(size_t(TV * C), 204);
  auto run = [&](bool typed) {
    auto w = to_device(be, start_w), p = to_device(be, start_p), t = to_device(be, start_t), g = to_device(be, dout);
    auto di = ints(be, ids), dt = ints(be, types);
    be.token_embeddings_backward(w.get<float>(), p.get<float>(), t.get<float>(), g.get<float>(), di.get<int32_t>(),
                                 typed ? dt.get<int32_t>() : nullptr, B, T, C);
    std::vector<float> all = to_host(w);
    for (auto& part : {to_host(p), to_host(t)}) all.insert(all.end(), part.begin(), part.end());
    return all;
  };
  if (!runs_on_backend([&] { run(true); })) return;
  for (bool typed : {true, false}) {
    std::vector<double> want(start_w.begin(), start_w.end());
    want.insert(want.end(), start_p.begin(), start_p.end());
    want.insert(want.end(), start_t.begin(), start_t.end());
    for (int64_t r = 0; r < B * T; ++r)
      for (int64_t c = 0; c < C; ++c) {
        const double g = dout[size_t(r * C + c)];
        want[size_t(ids[size_t(r)] * C + c)] += g;
        want[size_t(V * C + (r % T) * C + c)] += g;
        want[size_t(V * C + P * C + (typed ? types[size_t(r)] : 0) * C + c)] += g;
      }
    const auto got = run(typed);
    const double err = relative_error(got, want);
    report(typed ? "token embeddings backward (typed)" : "token embeddings backward (type 0)", err);
    CHECK(err < 1e-6);
  }
  check_thread_independent("token embeddings backward", [&] { return run(true); });
}

TEST("tanh backward against central differences; indexed row scatter with repeated indices") {
  Backend& be = device_backend();
  const int64_t n = 300;
  auto pre = random_vector(size_t(n), 211, -3.0f, 3.0f), dout = random_vector(size_t(n), 212);
  std::vector<float> out(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) out[size_t(i)] = std::tanh(pre[size_t(i)]);
  auto dpre = to_device(be, std::vector<float>(static_cast<size_t>(n), 0.0f)), dy = to_device(be, dout), y = to_device(be, out);
  if (!runs_on_backend([&] { be.tanh_backward(dpre.get<float>(), y.get<float>(), dy.get<float>(), n); })) return;
  auto loss = [&](const std::vector<double>& x) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) s += dout[size_t(i)] * std::tanh(x[size_t(i)]);
    return s;
  };
  const double err = relative_error(to_host(dpre), numeric_gradient(to_double(pre), loss));
  report("tanh backward", err);
  CHECK(err < 1e-5);

  const int64_t rows = 7, cols = 45, dst_rows = 5;
  const std::vector<int32_t> index = {4, 0, 2, 2, 4, 1, 2};
  auto src = random_vector(size_t(rows * cols), 213), start = random_vector(size_t(dst_rows * cols), 214);
  auto run = [&] {
    auto d = to_device(be, start), s = to_device(be, src);
    auto di = ints(be, index);
    be.scatter_add_rows_indexed(d.get<float>(), s.get<float>(), di.get<int32_t>(), rows, cols);
    return to_host(d);
  };
  std::vector<double> want(start.begin(), start.end());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) want[size_t(index[size_t(r)] * cols + c)] += src[size_t(r * cols + c)];
  const double serr = relative_error(run(), want);
  report("indexed row scatter", serr);
  CHECK(serr < 1e-6);
  check_thread_independent("indexed row scatter", run);
}

}  // namespace
}  // namespace tf::test
