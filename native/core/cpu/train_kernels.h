// CPU kernels of the optimiser and the input pipeline of training: gradient norms,
// AdamW, image augmentation. Host pointers, threads from the core's pool; results do not
// depend on the thread count or on scheduling. The CPU backend forwards to them.
#pragma once

#include <cstdint>

#include "../train/train_ops.h"

namespace tf::cpu {

// x[0 .. n) = 0.
void zero(float* x, int64_t n);

// The sum of squares of x in double: fixed blocks summed in double, then the blocks in
// order, so the result is the same for any thread count.
double sum_squares(const float* x, int64_t n);

// One AdamW step (train_ops.h) on n parameters with their moments m and v, from grads.
void adamw_update(float* params, float* m, float* v, const float* grads, int64_t n, const AdamWStep& step);

// out (batch, channels, size, size) = the augmented images (same shape); see
// AugmentParams. out and images must not overlap.
void augment_images(float* out, const float* images, int64_t batch, int64_t channels, int64_t image_size,
                    const AugmentParams& params);

}  // namespace tf::cpu
