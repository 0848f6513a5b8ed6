// The CUDA backend's training ops against the CPU backend: zeroing, the float64 sum of
// squares (also: the same bits on every run), AdamW over several steps, and the
// augmentation (bit-identical: the same draws, pixels only moved). Runs with
// --device cuda only.
#include <cmath>
#include <string>

#include "../../core/train/train_ops.h"
#include "cuda_compare.h"

namespace tf::test {
namespace {

TEST("cuda vs cpu: zero and sum of squares (float64, reproducible)") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  Backend& cpu = cpu_backend();
  for (int64_t n : {1, 1000, 300007, 5000000}) {
    part("sum_squares " + std::to_string(n), [&] {
      auto x = random_vector(size_t(n), uint32_t(221 + n % 1000), -3.0f, 3.0f);
      const double want = cpu.sum_squares(x.data(), n);
      auto gx = upload_to(*gpu, x);
      const double got = gpu->sum_squares(gx.get<float>(), n), again = gpu->sum_squares(gx.get<float>(), n);
      std::printf("    n %lld: cuda %.17g, cpu %.17g\n", (long long)n, got, want);
      CHECK_NEAR(got, want, 1e-11 * want);  // float64 sums of up to 5M terms, another order
      CHECK(got == again);
      gpu->zero(gx.get<float>(), n);
      const auto z = download_from<float>(gx);
      expect_identical("zero", z, std::vector<float>(size_t(n), 0.0f));
    });
  }
}

TEST("cuda vs cpu: AdamW, five steps with decay, gradient scaling and bias correction") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  Backend& cpu = cpu_backend();
  for (int64_t n : {1, 1003, 1 << 20}) {
    for (double wd : {0.0, 0.05}) {
      part("adamw " + std::to_string(n) + " wd " + std::to_string(wd), [&] {
        auto p = random_vector(size_t(n), 201);
        std::vector<float> m(size_t(n), 0.0f), v(size_t(n), 0.0f);
        auto gp = upload_to(*gpu, p), gm = upload_to(*gpu, m), gv = upload_to(*gpu, v);
        for (int t = 1; t <= 5; ++t) {
          auto g = random_vector(size_t(n), 210 + uint32_t(t), -2.0f, 2.0f);
          AdamWStep s;
          s.lr = 1e-3 * t;
          s.weight_decay = wd;
          s.bias_correction1 = 1 - std::pow(s.beta1, t);
          s.bias_correction2 = 1 - std::pow(s.beta2, t);
          s.grad_scale = t == 3 ? 0.25f : 1.0f;
          cpu.adamw_update(p.data(), m.data(), v.data(), g.data(), n, s);
          auto gg = upload_to(*gpu, g);
          gpu->adamw_update(gp.get<float>(), gm.get<float>(), gv.get<float>(), gg.get<float>(), n, s);
        }
        expect_close("params", download_from<float>(gp), p, 1e-6, 1e-6);
        expect_close("m", download_from<float>(gm), m, 1e-7, 1e-5);
        expect_close("v", download_from<float>(gv), v, 1e-9, 1e-5);
      });
    }
  }
}

TEST("cuda vs cpu: augmentation is bit-identical (crop, flip, fill, seeds)") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  Backend& cpu = cpu_backend();
  struct Case { int64_t B, C, S, pad; bool flip; };
  for (Case c : {Case{64, 3, 32, 4, true}, Case{5, 1, 28, 2, false}, Case{3, 2, 7, 0, true}, Case{1, 3, 1, 3, true}}) {
    part("augment " + std::to_string(c.B) + "x" + std::to_string(c.C) + "x" + std::to_string(c.S), [&] {
      auto img = random_vector(size_t(c.B * c.C * c.S * c.S), 301);
      AugmentParams a;
      a.crop_padding = c.pad;
      a.horizontal_flip = c.flip;
      if (c.C == 3) a.fill = {-1.5f, -2.0f, -1.75f};
      a.seed = 9876;
      std::vector<float> out(img.size());
      cpu.augment_images(out.data(), img.data(), c.B, c.C, c.S, a);
      auto gimg = upload_to(*gpu, img);
      DeviceBuffer gout(*gpu, img.size() * 4);
      gpu->augment_images(gout.get<float>(), gimg.get<float>(), c.B, c.C, c.S, a);
      expect_identical("augmented images", download_from<float>(gout), out);
    });
  }
}

}  // namespace
}  // namespace tf::test
