// The whole ViT on the CUDA backend against the CPU backend: the forward pass (logits,
// losses) over several micro-batches, activation capture into a host store (every point,
// with and without a sequence filter, then the std transform), the gradients of the
// mean loss, and training steps with augmentation, clipping and AdamW. Runs with
// --device cuda only.
//
// Bounds: float32 kernels summing in another order, through a few layers: logits and
// activations within 2e-4 of the matrix's largest entry (+ 1e-4 relative); gradients
// within 1e-3 of each tensor's largest gradient. AdamW divides by sqrt(v), so a
// parameter whose gradient is nearly zero can move by up to lr either way on a rounding
// difference: after the steps, 99.9% of the parameters must agree to 1e-5 (+ 1e-4
// relative) and every one to 2 lr per step.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../../core/activations/activation_store.h"
#include "../../core/train/vit_trainer.h"
#include "../../core/vit/vit_model.h"
#include "../model_fixtures.h"
#include "cuda_compare.h"

namespace tf::test {
namespace {

VitConfig small_vit(int64_t hidden, int64_t layers, int64_t heads) {
  VitConfig c;
  c.image_size = 32;
  c.patch_size = 4;  // 8 x 8 patches + CLS = 65 tokens, as the CIFAR ViTs
  c.num_channels = 3;
  c.hidden_size = hidden;
  c.num_layers = layers;
  c.num_heads = heads;
  c.intermediate_size = 4 * hidden;
  c.num_labels = 10;
  c.layer_norm_eps = 1e-12f;
  return c;
}

std::vector<float> vit_params(const VitConfig& c, uint32_t seed) {
  const VitParamLayout layout(c);
  return plausible_params(layout.tensors(), layout.total(), seed);
}

std::vector<int32_t> labels_for(int64_t n, int64_t classes) {
  std::vector<int32_t> l(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) l[size_t(i)] = int32_t((i * 7 + 3) % classes);
  return l;
}

TEST("cuda vs cpu: ViT forward (logits, losses) over several micro-batches") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  for (VitConfig c : {small_vit(64, 2, 4), small_vit(192, 2, 3)}) {
    const std::string name = "hidden " + std::to_string(c.hidden_size);
    part(name, [&] {
      const auto params = vit_params(c, 7);
      const int64_t n = 37;
      const auto images = random_vector(size_t(n * c.image_floats()), 8, -2.0f, 2.0f);
      const auto labels = labels_for(n, c.num_labels);
      VitModel cpu(c, cpu_backend(), params.data(), int64_t(params.size()));
      VitModel dev(c, *gpu, params.data(), int64_t(params.size()));
      for (VitModel* m : {&cpu, &dev}) m->set_micro_batch(16);
      std::vector<float> lc(size_t(n * c.num_labels)), lg(lc.size()), sc(static_cast<size_t>(n)), sg(sc.size());
      cpu.forward(images.data(), n, lc.data(), labels.data(), sc.data(), nullptr);
      dev.forward(images.data(), n, lg.data(), labels.data(), sg.data(), nullptr);
      expect_scaled(name + " logits", lg, lc, 2e-4, 1e-4);
      expect_scaled(name + " losses", sg, sc, 2e-4, 1e-4);
      std::vector<float> back(params.size());
      dev.read_parameters(back.data());
      expect_identical(name + " parameters read back", back, params);
    });
  }
}

TEST("cuda vs cpu: ViT activation capture on the GPU into a host store, every point") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  const VitConfig c = small_vit(64, 2, 4);
  const auto params = vit_params(c, 17);
  const int64_t n = 24;
  const auto images = random_vector(size_t(n * c.image_floats()), 18, -2.0f, 2.0f);
  const auto labels = labels_for(n, c.num_labels);
  VitModel cpu(c, cpu_backend(), params.data(), int64_t(params.size()));
  VitModel dev(c, *gpu, params.data(), int64_t(params.size()));
  for (VitModel* m : {&cpu, &dev}) m->set_micro_batch(10);
  struct Variant { const char* name; SequenceFilter filter; int64_t window; bool average; std::vector<std::string> only; };
  const std::vector<Variant> variants = {
      {"all tokens", SequenceFilter::None, 0, false, {}},
      {"window_3", SequenceFilter::Window, 3, false, {}},
      {"averaged tokens, two points", SequenceFilter::None, 0, true, {"layers.1.mlp_in", "head"}},
  };
  for (const Variant& v : variants) {
    part(v.name, [&] {
      ActivationStoreOptions o;
      o.capacity = n;
      o.filter = v.filter;
      o.window = v.window;
      o.average_tokens = v.average;
      o.only = v.only;
      // The GPU's store lives on the GPU: rows are chosen, kept and transformed there.
      ActivationStore sc(cpu.capture_points(), o), sg(dev.capture_points(), o, *gpu);
      CHECK(cpu.capture(sc, images.data(), n, labels.data(), nullptr) == n);
      // Two calls on the GPU: the store fills across captures as on the CPU.
      CHECK(dev.capture(sg, images.data(), 9, labels.data(), nullptr) == 9);
      CHECK(dev.capture(sg, images.data() + 9 * c.image_floats(), n - 9, labels.data() + 9, nullptr) == n - 9);
      CHECK(sg.num_samples() == sc.num_samples());
      std::vector<float> loss_c(sc.losses(), sc.losses() + n), loss_g(sg.losses(), sg.losses() + n);
      expect_scaled(std::string(v.name) + " losses", loss_g, loss_c, 2e-4, 1e-4);
      for (ActivationTransform t : {ActivationTransform::None, ActivationTransform::Std}) {
        if (t == ActivationTransform::Std) {
          sc.finalize(t);
          sg.finalize(t);
        }
        int compared = 0;
        for (size_t i = 0; i < sc.entry_count(); ++i) {
          if (!sc.entry(i).kept) continue;
          const size_t count = size_t(sc.rows(i) * sc.cols(i));
          std::vector<float> a(count), b(sc.data(i), sc.data(i) + count);
          sg.copy_to_host(i, a.data());
          const std::string what = std::string(v.name) + " " + activation_transform_name(t) + " " + sc.entry(i).name;
          // Print the first and last few entries; the rest only when over the bound.
          if (i < 3 || i + 3 >= sc.entry_count()) {
            expect_scaled(what, a, b, 2e-4, 1e-4);
          } else {
            const double allowed = 2e-4 * std::max(max_abs(b), 1e-6);
            for (size_t k = 0; k < count; ++k)
              if (!(std::fabs(a[k] - b[k]) <= allowed + 1e-4 * std::fabs(b[k]))) {
                expect_scaled(what, a, b, 2e-4, 1e-4);
                break;
              }
          }
          ++compared;
        }
        std::printf("    %s, transform %s: %d entries compared\n", v.name, activation_transform_name(t), compared);
      }
    });
  }
}

TEST("cuda vs cpu: ViT gradients of the mean loss, and training steps with AdamW") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  const VitConfig c = small_vit(64, 2, 4);
  const auto params = vit_params(c, 27);
  const int64_t batch = 24, micro = 10;
  const auto images = random_vector(size_t(batch * c.image_floats()), 28, -2.0f, 2.0f);
  const auto labels = labels_for(batch, c.num_labels);
  TrainerConfig tc;
  tc.schedule.kind = LrScheduleKind::Cosine;
  tc.schedule.base_lr = 1e-3;
  tc.schedule.warmup_steps = 1;
  tc.schedule.total_steps = 6;
  tc.weight_decay = 0.05;
  tc.label_smoothing = 0.1f;
  tc.max_grad_norm = 1.0;
  tc.augment = true;
  tc.augmentation.crop_padding = 4;
  tc.augmentation.horizontal_flip = true;
  tc.augmentation.fill = {-1.0f, -0.5f, 0.25f};
  tc.augmentation.seed = 99;
  VitTrainer cpu(c, cpu_backend(), params.data(), int64_t(params.size()), batch, micro);
  VitTrainer dev(c, *gpu, params.data(), int64_t(params.size()), batch, micro);
  cpu.configure(tc);
  dev.configure(tc);
  const VitParamLayout layout(c);

  part("gradients", [&] {
    std::vector<float> gc(params.size()), gg(params.size());
    const double lc = cpu.gradients(images.data(), labels.data(), batch, gc.data(), nullptr);
    const double lg = dev.gradients(images.data(), labels.data(), batch, gg.data(), nullptr);
    CHECK_NEAR(lg, lc, 1e-5 * std::fabs(lc) + 1e-6);
    int tensors = 0;
    for (const ParamTensor& t : layout.tensors()) {
      std::vector<float> a(gg.begin() + t.offset, gg.begin() + t.offset + t.size),
          b(gc.begin() + t.offset, gc.begin() + t.offset + t.size);
      const double allowed = gradient_bound(layout.tensors(), t, gc, gg);
      bool over = false;
      for (size_t k = 0; k < a.size() && !over; ++k) over = !(std::fabs(a[k] - b[k]) <= allowed + 1e-4 * std::fabs(b[k]));
      if (over || tensors < 4) expect_close("grad " + t.name, a, b, allowed, 1e-4);
      ++tensors;
    }
    std::printf("    gradients of %d tensors compared, loss cuda %.9g cpu %.9g\n", tensors, lg, lc);
  });

  part("three training steps", [&] {
    for (int s = 0; s < 3; ++s) {
      const StepResult rc = cpu.step(images.data(), labels.data(), batch, nullptr);
      const StepResult rg = dev.step(images.data(), labels.data(), batch, nullptr);
      std::printf("    step %d: loss cuda %.9g cpu %.9g, grad norm %.6g vs %.6g, correct %lld vs %lld, lr %.3g\n", s,
                  rg.loss, rc.loss, rg.grad_norm, rc.grad_norm, (long long)rg.correct, (long long)rc.correct, rg.lr);
      CHECK_NEAR(rg.loss, rc.loss, 1e-4 * std::fabs(rc.loss) + 1e-6);
      CHECK_NEAR(rg.grad_norm, rc.grad_norm, 1e-3 * rc.grad_norm + 1e-7);
      CHECK(std::llabs(rg.correct - rc.correct) <= 1);  // a top-logit near-tie may go either way
      CHECK(rg.lr == rc.lr);
      CHECK(rg.step == rc.step);
    }
    std::vector<float> pc(params.size()), pg(params.size()), mc(params.size()), vc(params.size()), mg(params.size()),
        vg(params.size());
    cpu.read_parameters(pc.data());
    dev.read_parameters(pg.data());
    cpu.read_moments(mc.data(), vc.data());
    dev.read_moments(mg.data(), vg.data());
    expect_trained_parameters(pg, pc, tc.schedule.base_lr, 3);
    expect_scaled("first moments", mg, mc, 1e-3, 1e-3);
    CHECK(dev.steps_done() == cpu.steps_done());
  });
}

}  // namespace
}  // namespace tf::test
