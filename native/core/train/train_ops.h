// The parameters of the training ops every backend implements (Backend::adamw_update,
// Backend::augment_images): plain values, so that a backend can copy them to a device.
#pragma once

#include <cstdint>
#include <vector>

namespace tf {

// One AdamW step over a stretch of parameters, in torch.optim.AdamW's order of
// operations: decoupled decay p *= 1 - lr * wd, moments m = b1 m + (1 - b1) g,
// v = b2 v + (1 - b2) g², then p -= (lr / bc1) * m / (sqrt(v) / sqrt(bc2) + eps).
// The bias corrections bc1 = 1 - b1^t and bc2 = 1 - b2^t (t = 1 on the first step) are
// computed once per step in double by the caller. The scalars are doubles, as Python
// floats are for torch, and are rounded to float where torch rounds them.
struct AdamWStep {
  double lr = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  double bias_correction1 = 1.0;
  double bias_correction2 = 1.0;
  // Gradients are multiplied by this before use: the global-norm clipping factor.
  float grad_scale = 1.0f;
};

// Random crop with zero padding and horizontal flip, as torchvision's
// RandomCrop(size, padding) followed by RandomHorizontalFlip(0.5) on normalised images:
// the padding takes each channel's `fill` (the normalised value of a black pixel).
// Image i of a batch draws its offsets and flip from the stream keyed by (seed, i), so
// the result depends on the seed alone, not on threads or on earlier batches.
struct AugmentParams {
  int64_t crop_padding = 0;
  bool horizontal_flip = false;
  std::vector<float> fill;  // one value per channel; empty means 0
  uint64_t seed = 0;
};

}  // namespace tf
