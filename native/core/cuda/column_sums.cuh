// Column sums of a row-major (rows x cols) matrix in the CPU backend's fixed order
// (cpu/column_sums.h): rows cut into blocks of 64, each block's sum down the rows in
// float32 in row order, then the blocks' partial sums added in block order in float64
// and added to the output. One thread per (block, column) keeps every addition in the
// CPU's order, so a sum of plain values (bias gradients) comes out bit-identical; the
// result never depends on scheduling. Used by every parameter gradient that is a sum
// over rows.
#pragma once

#include <cstdint>

#include "launch.cuh"

namespace tf::cuda {

constexpr int64_t kColumnSumBlockRows = 64;  // as cpu::kColumnSumBlockRows

// term(r, c, v) writes the K values row r contributes to column c.
template <int K, typename Term>
__global__ void column_partials_kernel(float* partials, int64_t rows, int64_t cols, int64_t blocks, Term term) {
  const int64_t c = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  if (c >= cols) return;
  for (int64_t blk = blockIdx.y; blk < blocks; blk += gridDim.y) {
    float acc[K];
#pragma unroll
    for (int k = 0; k < K; ++k) acc[k] = 0.0f;
    const int64_t r1 = (blk + 1) * kColumnSumBlockRows < rows ? (blk + 1) * kColumnSumBlockRows : rows;
    for (int64_t r = blk * kColumnSumBlockRows; r < r1; ++r) {
      float v[K];
      term(r, c, v);
#pragma unroll
      for (int k = 0; k < K; ++k) acc[k] += v[k];
    }
#pragma unroll
    for (int k = 0; k < K; ++k) partials[(blk * K + k) * cols + c] = acc[k];
  }
}

template <int K>
struct ColumnOutputs {
  float* out[K];
};

template <int K>
__global__ void column_finish_kernel(ColumnOutputs<K> outs, const float* partials, int64_t blocks, int64_t cols) {
  TF_GRID_STRIDE(c, cols) {
#pragma unroll
    for (int k = 0; k < K; ++k) {
      double s = 0.0;
      for (int64_t blk = 0; blk < blocks; ++blk) s += partials[(blk * K + k) * cols + c];
      outs.out[k][c] += float(s);
    }
  }
}

// outs.out[k][c] += sum over rows of term's k-th value, in the CPU's order.
template <int K, typename Term>
void column_sums(ColumnOutputs<K> outs, int64_t rows, int64_t cols, Term term, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  const int64_t blocks = (rows + kColumnSumBlockRows - 1) / kColumnSumBlockRows;
  Scratch partials(size_t(blocks * K * cols) * sizeof(float), stream);
  const int threads = 128;
  dim3 grid(blocks_of(cols, threads), unsigned(blocks < 65535 ? blocks : 65535));
  column_partials_kernel<K><<<grid, threads, 0, stream>>>(partials.as<float>(), rows, cols, blocks, term);
  TF_CUDA_CHECK_LAUNCH();
  column_finish_kernel<K><<<grid_for(cols), kThreads, 0, stream>>>(outs, partials.as<float>(), blocks, cols);
  TF_CUDA_CHECK_LAUNCH();
}

}  // namespace tf::cuda
