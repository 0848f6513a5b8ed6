// CUDA twins of the activation store's kernels: cpu/activation_kernels.h
// (gather_mean_rows) and activations/activation_transform.h (the std / center / norm
// column transforms), whose comments define the semantics. Device pointers; launches are
// queued on `stream` and return at once.
//
// Agreement with the CPU: bit-identical. Both walk the rows of a segment or column in
// the CPU's order with float64 sums, spelled out with __dadd_rn / __dmul_rn so that nvcc
// fuses no multiply-add, and round to float32 in the same places.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "../activations/activation_transform.h"

namespace tf::cuda {

void gather_mean_rows(float* dst, const float* src, int64_t src_stride, int64_t cols, const int32_t* offsets,
                      const int32_t* indices, int64_t segments, cudaStream_t stream);

void activation_transform(float* x, int64_t rows, int64_t cols, ActivationTransform t, cudaStream_t stream);

}  // namespace tf::cuda
