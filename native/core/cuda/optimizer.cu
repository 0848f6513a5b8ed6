// The optimiser's kernels, twins of cpu/grad_norm.cpp and cpu/adamw.cpp: zeroing, the
// float64 sum of squares behind global-norm clipping, and AdamW in torch's order of
// operations with the scalars derived in double on the host exactly as the CPU derives
// them. AdamW agrees with the CPU within float32 rounding (the compilers may fuse
// different multiply-adds); the sum of squares within float64 rounding (another order,
// but a fixed one: the same bits on every run).
#include <algorithm>
#include <cmath>
#include <vector>

#include "encoder_kernels.h"
#include "launch.cuh"

namespace tf::cuda {

namespace {

constexpr unsigned kSumBlocks = 1024;

__global__ void sum_squares_kernel(const float* x, int64_t n, double* partial) {
  __shared__ double shared[32];
  double s = 0.0;
  TF_GRID_STRIDE(i, n) s += double(x[i]) * double(x[i]);
  s = block_sum(s, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void sum_partials_kernel(const double* partial, unsigned count, double* out) {
  __shared__ double shared[32];
  double s = 0.0;
  for (unsigned i = threadIdx.x; i < count; i += blockDim.x) s += partial[i];
  s = block_sum(s, shared);
  if (threadIdx.x == 0) *out = s;
}

struct AdamWScalars {
  float decay, b1, one_minus_b1, b2, one_minus_b2, step_size, bc2_sqrt, eps, grad_scale;
};

__global__ void adamw_kernel(float* p, float* m, float* v, const float* g, int64_t n, AdamWScalars s) {
  TF_GRID_STRIDE(i, n) {
    const float gi = g[i] * s.grad_scale;
    const float pi = p[i] * s.decay;
    const float mi = m[i] * s.b1 + gi * s.one_minus_b1;
    const float vi = v[i] * s.b2 + gi * gi * s.one_minus_b2;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - s.step_size * (mi / (sqrtf(vi) / s.bc2_sqrt + s.eps));
  }
}

}  // namespace

void zero(float* x, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  TF_CUDA_CHECK(cudaMemsetAsync(x, 0, size_t(n) * sizeof(float), stream));
}

double sum_squares(const float* x, int64_t n, cudaStream_t stream) {
  if (n <= 0) return 0.0;
  // The block count depends on n alone, so the order of additions is fixed.
  const unsigned blocks = std::min(kSumBlocks, blocks_of(n, int64_t(kThreads) * 8));
  Scratch partial(size_t(blocks + 1) * sizeof(double), stream);
  sum_squares_kernel<<<blocks, kThreads, 0, stream>>>(x, n, partial.as<double>());
  TF_CUDA_CHECK_LAUNCH();
  sum_partials_kernel<<<1, kThreads, 0, stream>>>(partial.as<double>(), blocks, partial.as<double>() + blocks);
  TF_CUDA_CHECK_LAUNCH();
  double result = 0.0;
  download_now(&result, partial.as<double>() + blocks, sizeof result, stream);
  return result;
}

void adamw_update(float* params, float* m, float* v, const float* grads, int64_t n, const AdamWStep& st,
                  cudaStream_t stream) {
  if (n <= 0) return;
  // The same float scalars as cpu::adamw_update.
  const double lr = st.lr;
  AdamWScalars s;
  s.decay = float(1.0 - lr * double(st.weight_decay));
  s.step_size = float(lr / st.bias_correction1);
  s.bc2_sqrt = float(std::sqrt(st.bias_correction2));
  s.b1 = float(st.beta1);
  s.b2 = float(st.beta2);
  s.one_minus_b1 = float(1.0 - st.beta1);
  s.one_minus_b2 = float(1.0 - st.beta2);
  s.eps = float(st.eps);
  s.grad_scale = st.grad_scale;
  adamw_kernel<<<grid_for(n), kThreads, 0, stream>>>(params, m, v, grads, n, s);
  TF_CUDA_CHECK_LAUNCH();
}

}  // namespace tf::cuda
