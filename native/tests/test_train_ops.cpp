// The optimiser and input-pipeline kernels of training against float64 re-derivations:
// AdamW over several steps (decay, bias correction, gradient scaling), the learning-rate
// schedules, the gradient norm (and its independence of the thread count), and the
// crop-and-flip augmentation.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <set>
#include <string>

#include "../core/error.h"
#include "../core/thread_pool.h"
#include "../core/train/lr_schedule.h"
#include "../core/train/rng.h"
#include "../core/train/train_ops.h"
#include "backend_checks.h"
#include "check.h"
#include "test_device.h"

namespace tf::test {
namespace {

TEST("adamw: four steps against a float64 re-derivation, with and without decay") {
  Backend& be = device_backend();
  const int64_t n = 1003;
  for (double wd : {0.0, 0.05}) {
    auto p = random_vector(size_t(n), 201), m = std::vector<float>(size_t(n), 0.0f), v = m;
    std::vector<double> P(p.begin(), p.end()), M(size_t(n), 0.0), Vv(size_t(n), 0.0);
    auto dp = to_device(be, p), dm = to_device(be, m), dv = to_device(be, v);
    const double b1 = 0.9, b2 = 0.999, eps = 1e-8;
    double worst = 0;
    for (int t = 1; t <= 4; ++t) {
      auto g = random_vector(size_t(n), 210 + uint32_t(t), -2.0f, 2.0f);
      auto dg = to_device(be, g);
      AdamWStep s;
      s.lr = 1e-2 * t;
      s.beta1 = b1;
      s.beta2 = b2;
      s.eps = eps;
      s.weight_decay = wd;
      s.bias_correction1 = 1 - std::pow(b1, t);
      s.bias_correction2 = 1 - std::pow(b2, t);
      s.grad_scale = t == 3 ? 0.25f : 1.0f;
      if (!runs_on_backend([&] { be.adamw_update(dp.get<float>(), dm.get<float>(), dv.get<float>(), dg.get<float>(), n, s); }))
        return;
      for (int64_t i = 0; i < n; ++i) {
        const double gi = double(g[size_t(i)]) * s.grad_scale;
        P[size_t(i)] *= 1 - s.lr * wd;
        M[size_t(i)] = b1 * M[size_t(i)] + (1 - b1) * gi;
        Vv[size_t(i)] = b2 * Vv[size_t(i)] + (1 - b2) * gi * gi;
        const double mhat = M[size_t(i)] / s.bias_correction1, vhat = Vv[size_t(i)] / s.bias_correction2;
        P[size_t(i)] -= s.lr * mhat / (std::sqrt(vhat) + eps);
      }
      auto ph = to_host(dp);
      for (int64_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(ph[size_t(i)] - P[size_t(i)]));
    }
    std::printf("    weight decay %.2f: largest parameter difference after 4 steps %.2e\n", wd, worst);
    CHECK(worst < 2e-6);
    auto mh = to_host(dm), vh = to_host(dv);
    for (int64_t i = 0; i < n; ++i) {
      CHECK_NEAR(mh[size_t(i)], M[size_t(i)], 1e-6);
      CHECK_NEAR(vh[size_t(i)], Vv[size_t(i)], 1e-6 * (1 + Vv[size_t(i)]));
    }
  }
}

TEST("learning-rate schedules: warmup, then constant, linear or cosine decay") {
  LrSchedule s;
  s.base_lr = 0.1;
  s.warmup_steps = 10;
  s.total_steps = 110;
  for (auto kind : {LrScheduleKind::Constant, LrScheduleKind::Linear, LrScheduleKind::Cosine}) {
    s.kind = kind;
    CHECK(lr_at(s, 0) == 0.0);                  // torch's schedulers: the first warmup step runs at 0
    CHECK_NEAR(lr_at(s, 5), 0.05, 1e-15);
    CHECK_NEAR(lr_at(s, 10), 0.1, 1e-15);       // the peak, right after warmup
  }
  s.kind = LrScheduleKind::Constant;
  CHECK_NEAR(lr_at(s, 109), 0.1, 1e-15);
  s.kind = LrScheduleKind::Linear;
  CHECK_NEAR(lr_at(s, 60), 0.05, 1e-15);
  CHECK_NEAR(lr_at(s, 110), 0.0, 1e-15);
  CHECK(lr_at(s, 200) == 0.0);
  s.kind = LrScheduleKind::Cosine;
  CHECK_NEAR(lr_at(s, 60), 0.05, 1e-15);
  CHECK_NEAR(lr_at(s, 35), 0.1 * 0.5 * (1 + std::cos(M_PI * 0.25)), 1e-15);
  CHECK_NEAR(lr_at(s, 110), 0.0, 1e-15);
  s.warmup_steps = 0;
  CHECK_NEAR(lr_at(s, 0), 0.1, 1e-15);
  CHECK(lr_schedule_kind("cosine") == LrScheduleKind::Cosine);
  CHECK_THROWS(lr_schedule_kind("cosin"));
}

TEST("sum of squares in double, the same for 1, 2 and 3 threads") {
  Backend& be = device_backend();
  const int64_t n = 300007;
  auto x = random_vector(size_t(n), 221, -3.0f, 3.0f);
  auto dx = to_device(be, x);
  double got = 0;
  if (!runs_on_backend([&] { got = be.sum_squares(dx.get<float>(), n); })) return;
  double want = 0;
  for (float f : x) want += double(f) * f;
  CHECK_NEAR(got, want, 1e-12 * want);
  if (be.device() != Device::Cpu) return;
  const int before = num_threads();
  set_num_threads(1);
  const double one = be.sum_squares(x.data(), n);
  for (int t : {2, 3}) {
    set_num_threads(t);
    CHECK(be.sum_squares(x.data(), n) == one);
  }
  set_num_threads(before);
}

TEST("augmentation: crop offsets within the padding, flips both ways, fill outside, keyed by the seed") {
  Backend& be = device_backend();
  const int64_t B = 64, C = 2, S = 6, pad = 2, plane = S * S;
  std::vector<float> img(size_t(B * C * plane));
  for (size_t i = 0; i < img.size(); ++i) img[i] = float(i % plane) + 100.0f * float((i / plane) % C);  // position code
  AugmentParams a;
  a.crop_padding = pad;
  a.horizontal_flip = true;
  a.fill = {-7.0f, -9.0f};
  a.seed = 1234;
  auto din = to_device(be, img);
  DeviceBuffer dout(be, img.size() * sizeof(float));
  if (!runs_on_backend([&] { be.augment_images(dout.get<float>(), din.get<float>(), B, C, S, a); })) return;
  auto out = to_host(dout);
  std::set<int64_t> tops, lefts;
  int flips = 0;
  for (int64_t b = 0; b < B; ++b) {
    // Re-derive this image's draws and check every pixel against them.
    CounterRng rng(stream_key(a.seed, uint64_t(b)));
    const int64_t top = int64_t(rng.below(2 * pad + 1)) - pad, left = int64_t(rng.below(2 * pad + 1)) - pad;
    const bool flip = rng.below(2) == 1;
    tops.insert(top);
    lefts.insert(left);
    flips += flip;
    for (int64_t c = 0; c < C; ++c)
      for (int64_t y = 0; y < S; ++y)
        for (int64_t x = 0; x < S; ++x) {
          const int64_t sy = y + top, sx = (flip ? S - 1 - x : x) + left;
          const float want = sy < 0 || sy >= S || sx < 0 || sx >= S ? a.fill[size_t(c)] : float(sy * S + sx) + 100.0f * float(c);
          CHECK(out[size_t(((b * C + c) * S + y) * S + x)] == want);
        }
  }
  CHECK(tops.size() == size_t(2 * pad + 1) && lefts.size() == size_t(2 * pad + 1));
  CHECK(flips > 10 && flips < B - 10);
  // Without padding or flip the images pass through unchanged.
  AugmentParams none;
  none.seed = 5;
  be.augment_images(dout.get<float>(), din.get<float>(), B, C, S, none);
  CHECK(to_host(dout) == img);
  // Another seed, other draws; the same seed, the same images.
  a.seed = 1235;
  be.augment_images(dout.get<float>(), din.get<float>(), B, C, S, a);
  CHECK(to_host(dout) != out);
  a.seed = 1234;
  be.augment_images(dout.get<float>(), din.get<float>(), B, C, S, a);
  CHECK(to_host(dout) == out);
}

}  // namespace
}  // namespace tf::test
