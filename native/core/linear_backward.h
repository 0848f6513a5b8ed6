// The backward of a linear layer, shared by the ViT and BERT backward passes.
#pragma once

#include <cstdint>

#include "backend.h"

namespace tf {

// For y (rows x out) = x (rows x in) · Wᵀ + b: dW += dyᵀ · x and, when dx is given,
// dx = dy · W + beta * dx (beta 1 adds to a residual's gradient already there). The bias
// gradient is Backend::bias_backward of dy.
inline void linear_backward(Backend& be, float* dx, float* dw, const float* dy, const float* x, const float* w,
                            int64_t rows, int64_t in, int64_t out, float beta = 0.0f) {
  be.gemm(true, false, out, in, rows, 1.0f, dy, out, x, in, 1.0f, dw, in);
  if (dx) be.gemm(false, false, rows, in, out, 1.0f, dy, out, w, in, beta, dx, in);
}

}  // namespace tf
