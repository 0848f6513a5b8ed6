#include "optimizer.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "../error.h"
#include "lr_schedule.h"
#include "train_ops.h"
#include "vit_trainer.h"

namespace tf {

namespace {

bool decays(const ParamTensor& t) {
  const std::string suffix = ".weight";
  const bool weight =
      t.name.size() > suffix.size() && t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) == 0;
  return weight && t.shape.size() >= 2;
}

}  // namespace

std::vector<AdamWSegment> adamw_segments(const std::vector<ParamTensor>& tensors) {
  std::vector<AdamWSegment> segments;
  for (const ParamTensor& t : tensors) {
    const bool d = decays(t);
    if (!segments.empty() && segments.back().decay == d && segments.back().offset + segments.back().size == t.offset)
      segments.back().size += t.size;
    else
      segments.push_back({t.offset, t.size, d});
  }
  return segments;
}

void check_optimizer_config(const TrainerConfig& config) {
  TF_CHECK(config.schedule.total_steps >= 1, "trainer: total steps must be at least 1");
  TF_CHECK(config.beta1 >= 0 && config.beta1 < 1 && config.beta2 >= 0 && config.beta2 < 1,
           "trainer: AdamW betas must lie in [0, 1)");
  TF_CHECK(config.eps > 0, "trainer: AdamW epsilon must be positive");
  TF_CHECK(config.label_smoothing >= 0 && config.label_smoothing < 1, "trainer: label smoothing must lie in [0, 1)");
}

double adamw_step(Backend& be, const TrainerConfig& config, int64_t step, double grad_norm, double loss,
                  const std::vector<AdamWSegment>& segments, float* params, float* m, float* v, const float* grads) {
  if (!std::isfinite(grad_norm))
    throw Error("train step " + std::to_string(step) + ": the gradient is not finite (loss " + std::to_string(loss) +
                "); lower the learning rate or check the data");
  AdamWStep s;
  s.lr = lr_at(config.schedule, step);
  s.beta1 = config.beta1;
  s.beta2 = config.beta2;
  s.eps = config.eps;
  s.bias_correction1 = 1.0 - std::pow(config.beta1, double(step + 1));
  s.bias_correction2 = 1.0 - std::pow(config.beta2, double(step + 1));
  // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6), at most 1.
  s.grad_scale = config.max_grad_norm > 0 ? float(std::min(1.0, config.max_grad_norm / (grad_norm + 1e-6))) : 1.0f;
  for (const AdamWSegment& seg : segments) {
    s.weight_decay = seg.decay ? config.weight_decay : 0.0;
    be.adamw_update(params + seg.offset, m + seg.offset, v + seg.offset, grads + seg.offset, seg.size, s);
  }
  return s.lr;
}

}  // namespace tf
