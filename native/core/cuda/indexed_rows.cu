// Rows moved by an index, twins of cpu/text_rows.cpp (gather) and cpu/text_backward.cpp
// (scatter-add): the masked-LM head gathers its labelled rows, and its backward, like the
// word and token-type embeddings', adds rows back into tables where an index may repeat.
//
// The CPU adds the rows that share a destination one float at a time in row order. To
// get the same bits without float atomics (whose order depends on timing), the rows are
// grouped by destination first: a stable radix sort of the indices (CUB) keeps each
// group's rows in their original order, and one thread per (group, column) walks its
// group in that order. No sort is needed without an index: every row goes to row 0.
#include <cub/device/device_radix_sort.cuh>

#include <cstdint>

#include "launch.cuh"
#include "text_kernels.h"

namespace tf::cuda {

namespace {

__global__ void gather_rows_indexed_kernel(float* dst, const float* src, const int32_t* index, int64_t rows,
                                           int64_t cols) {
  TF_GRID_STRIDE(i, rows * cols) dst[i] = src[int64_t(index[i / cols]) * cols + i % cols];
}

__global__ void iota_kernel(int32_t* v, int64_t n) {
  TF_GRID_STRIDE(i, n) v[i] = int32_t(i);
}

// *dst += column c of the src rows order[begin .. end) (rows begin .. end when order is
// null), one after the other.
__device__ void add_rows_in_order(float* dst, const float* src, const int32_t* order, int64_t begin, int64_t end,
                                  int64_t cols, int64_t c) {
  float acc = *dst;
#pragma unroll 4
  for (int64_t j = begin; j < end; ++j) acc += src[(order ? int64_t(order[j]) : j) * cols + c];
  *dst = acc;
}

// keys sorted (stably) with the rows in `order`: the thread of a group's first entry and
// column c adds the whole group. The others have nothing to do.
__global__ void scatter_add_sorted_kernel(float* dst, const float* src, const int32_t* keys, const int32_t* order,
                                          int64_t rows, int64_t cols) {
  TF_GRID_STRIDE(idx, rows * cols) {
    const int64_t i = idx / cols, c = idx % cols;
    const int32_t key = keys[i];
    if (i > 0 && keys[i - 1] == key) continue;
    int64_t end = i + 1;
    while (end < rows && keys[end] == key) ++end;
    add_rows_in_order(dst + int64_t(key) * cols + c, src, order, i, end, cols, c);
  }
}

// Every row into dst row 0, in row order: one thread per column.
__global__ void sum_rows_in_order_kernel(float* dst, const float* src, int64_t rows, int64_t cols) {
  TF_GRID_STRIDE(c, cols) add_rows_in_order(dst + c, src, nullptr, 0, rows, cols, c);
}

}  // namespace

void gather_rows_indexed(float* dst, const float* src, const int32_t* index, int64_t rows, int64_t cols,
                         cudaStream_t stream) {
  if (rows * cols <= 0) return;
  gather_rows_indexed_kernel<<<grid_for(rows * cols), kThreads, 0, stream>>>(dst, src, index, rows, cols);
  TF_CUDA_CHECK_LAUNCH();
}

void scatter_add_rows_indexed(float* dst, const float* src, const int32_t* index, int64_t rows, int64_t cols,
                              cudaStream_t stream) {
  if (rows * cols <= 0) return;
  if (!index) {
    sum_rows_in_order_kernel<<<grid_for(cols), kThreads, 0, stream>>>(dst, src, rows, cols);
    TF_CUDA_CHECK_LAUNCH();
    return;
  }
  TF_CHECK(rows <= INT32_MAX, "scatter_add_rows_indexed: more rows than a 32-bit index can list");
  const int n = int(rows);
  Scratch keys(size_t(n) * sizeof(int32_t), stream), rows_in(size_t(n) * sizeof(int32_t), stream),
      order(size_t(n) * sizeof(int32_t), stream);
  iota_kernel<<<grid_for(n), kThreads, 0, stream>>>(rows_in.as<int32_t>(), n);
  TF_CUDA_CHECK_LAUNCH();
  // Radix sort is stable: rows with the same index stay in increasing row order.
  size_t temp_bytes = 0;
  TF_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, temp_bytes, index, keys.as<int32_t>(),
                                                rows_in.as<int32_t>(), order.as<int32_t>(), n, 0, 32, stream));
  Scratch temp(temp_bytes, stream);
  TF_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp.as<void>(), temp_bytes, index, keys.as<int32_t>(),
                                                rows_in.as<int32_t>(), order.as<int32_t>(), n, 0, 32, stream));
  scatter_add_sorted_kernel<<<grid_for(rows * cols), kThreads, 0, stream>>>(dst, src, keys.as<int32_t>(),
                                                                            order.as<int32_t>(), rows, cols);
  TF_CUDA_CHECK_LAUNCH();
}

}  // namespace tf::cuda
