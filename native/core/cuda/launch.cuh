// Shared pieces of the CUDA kernels: launch sizes, grid-stride loops, warp and block
// reductions whose order is fixed (so a kernel gives the same bits on every run), the
// exact-erf GELU, and stream-ordered scratch memory. Included by .cu files only.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

#include "cuda_check.h"

namespace tf::cuda {

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over n items; capped, the loop covers the rest.
inline unsigned grid_for(int64_t n, int threads = kThreads) {
  const int64_t blocks = (n + threads - 1) / threads;
  return unsigned(blocks < 1 ? 1 : blocks < 65535 * 32 ? blocks : 65535 * 32);
}

// Blocks of `per_block` items for n items, at least one.
inline unsigned blocks_of(int64_t n, int64_t per_block) {
  const int64_t b = (n + per_block - 1) / per_block;
  return unsigned(b < 1 ? 1 : b);
}

#define TF_GRID_STRIDE(i, n)                                                        \
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < int64_t(n); \
       i += int64_t(gridDim.x) * blockDim.x)

// Butterfly sums and maxima over a full warp: every lane ends with the same value, and
// the order of additions depends only on the lane layout, never on timing.
template <typename T>
__device__ __forceinline__ T warp_sum(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffffu, v, o);
  return v;
}

template <typename T>
__device__ __forceinline__ T warp_max(T v) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const T w = __shfl_xor_sync(0xffffffffu, v, o);
    v = w > v ? w : v;
  }
  return v;
}

// Sum over the whole block (blockDim.x a multiple of 32, at most 1024); every thread gets
// the result. `shared` holds 32 values. Fixed order: warps, then warp results in order.
template <typename T>
__device__ __forceinline__ T block_sum(T v, T* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_sum(v);
  __syncthreads();  // shared may still be read by an earlier call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  T total = T(0);
  for (int w = 0; w < warps; ++w) total += shared[w];
  return total;
}

template <typename T>
__device__ __forceinline__ T block_max(T v, T* shared) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  v = warp_max(v);
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  T best = shared[0];
  for (int w = 1; w < warps; ++w) best = shared[w] > best ? shared[w] : best;
  return best;
}

// GELU in Hugging Face's exact form, 0.5 x (1 + erf(x / sqrt 2)), written with erfc so
// that the tail for negative x keeps its relative precision (1 + erf cancels there).
__device__ __forceinline__ float gelu_exact(float x) { return 0.5f * x * erfcf(-x * 0.70710678118654752440f); }

// d gelu / dx = Phi(x) + x phi(x).
__device__ __forceinline__ float gelu_exact_grad(float x) {
  const float cdf = 0.5f * erfcf(-x * 0.70710678118654752440f);
  const float pdf = 0.39894228040143267794f * expf(-0.5f * x * x);
  return cdf + x * pdf;
}

// Stream-ordered scratch: allocated and freed on the stream, so no synchronisation and
// the pool reuses the memory between calls.
class Scratch {
 public:
  Scratch(size_t bytes, cudaStream_t stream) : stream_(stream) {
    if (bytes) TF_CUDA_CHECK(cudaMallocAsync(&ptr_, bytes, stream));
  }
  ~Scratch() {
    if (ptr_) cudaFreeAsync(ptr_, stream_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <typename T>
  T* as() const { return static_cast<T*>(ptr_); }

 private:
  void* ptr_ = nullptr;
  cudaStream_t stream_;
};

// Copies a small host array to the device and waits, so the host array may go away.
inline void upload_now(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  if (!bytes) return;
  TF_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, stream));
  TF_CUDA_CHECK(cudaStreamSynchronize(stream));
}

// Copies a small device array to the host and waits.
inline void download_now(void* dst, const void* src, size_t bytes, cudaStream_t stream) {
  if (!bytes) return;
  TF_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, stream));
  TF_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace tf::cuda
