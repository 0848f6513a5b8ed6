// The activation store's kernel: choosing (and averaging) the rows of a captured module
// output that the store keeps. Host pointers; the CUDA twin is cuda/activation_kernels.cu.
// The store's column transforms (std, center, norm) are activations/activation_transform.h
// on the CPU.
#pragma once

#include <cstdint>

namespace tf::cpu {

// Row s of dst (segments x cols, contiguous) becomes the mean of the rows
// indices[offsets[s]] ... indices[offsets[s + 1] - 1] of src (row stride src_stride):
// float64 sums in index order, divided by the count and rounded once to float32. A
// one-row segment is therefore an exact copy, and an empty one a row of zeros. This is
// every way a store keeps rows: chosen tokens (one row per segment), the mean over a
// sample's tokens, and only the real tokens of padded text.
void gather_mean_rows(float* dst, const float* src, int64_t src_stride, int64_t cols, const int32_t* offsets,
                      const int32_t* indices, int64_t segments);

}  // namespace tf::cpu
