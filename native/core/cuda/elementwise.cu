// Elementwise CUDA kernels, twins of native/core/cpu/elementwise.cpp.
#include <algorithm>

#include "cuda_check.h"
#include "kernels.cuh"

namespace tf::cuda {

namespace {

constexpr int kThreads = 256;

unsigned blocks_for(int64_t n) {
  int64_t blocks = (n + kThreads - 1) / kThreads;
  return unsigned(blocks < 65535 * 32 ? blocks : 65535 * 32);  // grid-stride loops cover the rest
}

__global__ void gelu_forward_kernel(float* out, const float* inp, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float x = inp[i];
    out[i] = 0.5f * x * (1.0f + erff(x * 0.70710678118654752440f));
  }
}

__global__ void gelu_backward_kernel(float* dinp, const float* inp, const float* dout, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x) {
    float x = inp[i];
    float cdf = 0.5f * (1.0f + erff(x * 0.70710678118654752440f));
    float pdf = 0.39894228040143267794f * expf(-0.5f * x * x);
    dinp[i] = dout[i] * (cdf + x * pdf);
  }
}

__global__ void axpby_kernel(float* y, const float* x, float alpha, float beta, int64_t n) {
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    y[i] = beta == 0.0f ? alpha * x[i] : alpha * x[i] + beta * y[i];
}

// Each block reduces its grid-stride slice in shared memory and adds one float64 partial
// sum to *out (double atomicAdd needs sm_60, below every architecture we build for).
__global__ void dot_kernel(const float* x, const float* y, int64_t n, double* out) {
  __shared__ double partial[kThreads];
  double s = 0.0;
  for (int64_t i = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; i < n; i += int64_t(gridDim.x) * blockDim.x)
    s += double(x[i]) * double(y[i]);
  partial[threadIdx.x] = s;
  __syncthreads();
  for (int stride = kThreads / 2; stride > 0; stride /= 2) {
    if (threadIdx.x < stride) partial[threadIdx.x] += partial[threadIdx.x + stride];
    __syncthreads();
  }
  if (threadIdx.x == 0) atomicAdd(out, partial[0]);
}

}  // namespace

void gelu_forward(float* out, const float* inp, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  gelu_forward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(out, inp, n);
  TF_CUDA_CHECK_LAUNCH();
}

void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  gelu_backward_kernel<<<blocks_for(n), kThreads, 0, stream>>>(dinp, inp, dout, n);
  TF_CUDA_CHECK_LAUNCH();
}

double dot(const float* x, const float* y, int64_t n, cudaStream_t stream) {
  double* sum = nullptr;
  TF_CUDA_CHECK(cudaMallocAsync(&sum, sizeof(double), stream));
  TF_CUDA_CHECK(cudaMemsetAsync(sum, 0, sizeof(double), stream));
  if (n > 0) {
    unsigned blocks = std::min<unsigned>(blocks_for(n), 1024);
    dot_kernel<<<blocks, kThreads, 0, stream>>>(x, y, n, sum);
    TF_CUDA_CHECK_LAUNCH();
  }
  double host = 0.0;
  TF_CUDA_CHECK(cudaMemcpyAsync(&host, sum, sizeof(double), cudaMemcpyDeviceToHost, stream));
  TF_CUDA_CHECK(cudaFreeAsync(sum, stream));
  TF_CUDA_CHECK(cudaStreamSynchronize(stream));
  return host;
}

void axpby(float* y, const float* x, float alpha, float beta, int64_t n, cudaStream_t stream) {
  if (n == 0) return;
  axpby_kernel<<<blocks_for(n), kThreads, 0, stream>>>(y, x, alpha, beta, n);
  TF_CUDA_CHECK_LAUNCH();
}

}  // namespace tf::cuda
