// The optimiser half of a training step, the same for every model the trainers train:
// checking the TrainerConfig, grouping the parameters into AdamW segments by their
// weight-decay rule, and one clipped, scheduled AdamW update over them.
#pragma once

#include <cstdint>
#include <vector>

#include "../backend.h"
#include "../vit/vit_params.h"

namespace tf {

struct TrainerConfig;

// A stretch of neighbouring parameters that share one weight-decay rule.
struct AdamWSegment {
  int64_t offset, size;
  bool decay;
};

// Weight decay applies to the weight matrices (names ending in ".weight", two or more
// dimensions): never to biases or LayerNorm gains. Neighbouring tensors with the same
// rule become one segment, so a step makes few backend calls.
std::vector<AdamWSegment> adamw_segments(const std::vector<ParamTensor>& tensors);

// The checks every trainer's configure() makes on the optimiser and schedule settings.
void check_optimizer_config(const TrainerConfig& config);

// One AdamW update of `params` (step `step`, zero-based) from `grads` with global norm
// `grad_norm`: the schedule's learning rate, torch's clip_grad_norm_ scaling and the
// bias corrections. Throws, naming the step and `loss`, when the norm is not finite.
// Returns the learning rate used.
double adamw_step(Backend& be, const TrainerConfig& config, int64_t step, double grad_norm, double loss,
                  const std::vector<AdamWSegment>& segments, float* params, float* m, float* v, const float* grads);

}  // namespace tf
