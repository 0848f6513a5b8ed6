// Elementwise CUDA kernels, twins of native/core/cpu/elementwise.cpp.
#include <algorithm>

#include "kernels.cuh"
#include "launch.cuh"

namespace tf::cuda {

namespace {

__global__ void gelu_forward_kernel(float* out, const float* inp, int64_t n) {
  TF_GRID_STRIDE(i, n) out[i] = gelu_exact(inp[i]);
}

__global__ void gelu_backward_kernel(float* dinp, const float* inp, const float* dout, int64_t n) {
  TF_GRID_STRIDE(i, n) dinp[i] = dout[i] * gelu_exact_grad(inp[i]);
}

__global__ void axpby_kernel(float* y, const float* x, float alpha, float beta, int64_t n) {
  TF_GRID_STRIDE(i, n) y[i] = beta == 0.0f ? alpha * x[i] : alpha * x[i] + beta * y[i];
}

// Each block reduces its grid-stride slice in a fixed order and writes one float64
// partial; a second pass adds the partials in block order, so the result is the same on
// every run (an atomicAdd of the partials would not be).
__global__ void dot_kernel(const float* x, const float* y, int64_t n, double* partial) {
  __shared__ double shared[32];
  double s = 0.0;
  TF_GRID_STRIDE(i, n) s += double(x[i]) * double(y[i]);
  s = block_sum(s, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = s;
}

__global__ void sum_in_order_kernel(const double* partial, unsigned count, double* out) {
  __shared__ double shared[32];
  double s = 0.0;
  for (unsigned i = threadIdx.x; i < count; i += blockDim.x) s += partial[i];
  s = block_sum(s, shared);
  if (threadIdx.x == 0) *out = s;
}

}  // namespace

void gelu_forward(float* out, const float* inp, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  gelu_forward_kernel<<<grid_for(n), kThreads, 0, stream>>>(out, inp, n);
  TF_CUDA_CHECK_LAUNCH();
}

void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  gelu_backward_kernel<<<grid_for(n), kThreads, 0, stream>>>(dinp, inp, dout, n);
  TF_CUDA_CHECK_LAUNCH();
}

double dot(const float* x, const float* y, int64_t n, cudaStream_t stream) {
  if (n <= 0) return 0.0;
  const unsigned blocks = std::min(1024u, blocks_of(n, int64_t(kThreads) * 8));
  Scratch partial(size_t(blocks + 1) * sizeof(double), stream);
  dot_kernel<<<blocks, kThreads, 0, stream>>>(x, y, n, partial.as<double>());
  TF_CUDA_CHECK_LAUNCH();
  sum_in_order_kernel<<<1, kThreads, 0, stream>>>(partial.as<double>(), blocks, partial.as<double>() + blocks);
  TF_CUDA_CHECK_LAUNCH();
  double host = 0.0;
  download_now(&host, partial.as<double>() + blocks, sizeof host, stream);
  return host;
}

void axpby(float* y, const float* x, float alpha, float beta, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  axpby_kernel<<<grid_for(n), kThreads, 0, stream>>>(y, x, alpha, beta, n);
  TF_CUDA_CHECK_LAUNCH();
}

}  // namespace tf::cuda
