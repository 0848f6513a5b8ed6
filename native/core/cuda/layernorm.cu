// LayerNorm forward (mean and rstd per row kept for the backward pass) and backward,
// twins of cpu/layernorm.cpp. A warp per row; the row statistics are summed in float64
// (the CPU sums in float32), so results agree with the CPU within float32 rounding, not
// bit for bit. The gain and bias gradients go through column_sums in the CPU's order.
#include <cmath>

#include "column_sums.cuh"
#include "encoder_kernels.h"
#include "launch.cuh"

namespace tf::cuda {

namespace {

constexpr int kRowsPerBlock = kThreads / 32;

// Two passes over the row (mean, then squared deviations around it), as the CPU does:
// E[x²] - E[x]² would lose the variance under a large mean.
__global__ void layernorm_forward_kernel(float* out, float* mean, float* rstd, const float* inp, const float* w,
                                         const float* b, int64_t rows, int64_t cols, float eps) {
  const int64_t row = blockIdx.x * int64_t(kRowsPerBlock) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;  // the whole warp leaves together
  const float* x = inp + row * cols;
  double s = 0.0;
  for (int64_t c = lane; c < cols; c += 32) s += x[c];
  s = warp_sum(s);
  const float m = float(s / double(cols));
  double ss = 0.0;
  for (int64_t c = lane; c < cols; c += 32) {
    const double d = double(x[c]) - double(m);
    ss += d * d;
  }
  ss = warp_sum(ss);
  const float r = float(1.0 / sqrt(ss / double(cols) + double(eps)));
  float* o = out + row * cols;
  for (int64_t c = lane; c < cols; c += 32) o[c] = (x[c] - m) * r * w[c] + b[c];
  if (lane == 0) {
    if (mean) mean[row] = m;
    if (rstd) rstd[row] = r;
  }
}

// dx += rstd (g - mean(g) - x̂ mean(g x̂)) with g = dout * w, x̂ = (x - mean) rstd.
__global__ void layernorm_backward_rows_kernel(float* dinp, const float* dout, const float* inp, const float* mean,
                                               const float* rstd, const float* w, int64_t rows, int64_t cols) {
  const int64_t row = blockIdx.x * int64_t(kRowsPerBlock) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (row >= rows) return;
  const float* x = inp + row * cols;
  const float* dy = dout + row * cols;
  const float m = mean[row], s = rstd[row];
  double sum_g = 0.0, sum_gx = 0.0;
  for (int64_t c = lane; c < cols; c += 32) {
    const float g = dy[c] * w[c];
    sum_g += g;
    sum_gx += double(g) * double((x[c] - m) * s);
  }
  sum_g = warp_sum(sum_g);
  sum_gx = warp_sum(sum_gx);
  const float mean_g = float(sum_g / double(cols)), mean_gx = float(sum_gx / double(cols));
  float* dx = dinp + row * cols;
  for (int64_t c = lane; c < cols; c += 32) {
    const float xh = (x[c] - m) * s;
    dx[c] += s * (dy[c] * w[c] - mean_g - xh * mean_gx);
  }
}

// Row r's contributions to the gain and bias gradients: dout * x̂ and dout.
struct LayerNormParamTerm {
  const float* dout;
  const float* inp;
  const float* mean;
  const float* rstd;
  int64_t cols;
  __device__ void operator()(int64_t r, int64_t c, float* v) const {
    const float d = dout[r * cols + c];
    v[0] = d * ((inp[r * cols + c] - mean[r]) * rstd[r]);
    v[1] = d;
  }
};

}  // namespace

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                       int64_t rows, int64_t cols, float eps, cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  layernorm_forward_kernel<<<blocks_of(rows, kRowsPerBlock), kThreads, 0, stream>>>(out, mean, rstd, inp, weight,
                                                                                    bias, rows, cols, eps);
  TF_CUDA_CHECK_LAUNCH();
}

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* mean, const float* rstd, const float* weight, int64_t rows, int64_t cols,
                        cudaStream_t stream) {
  if (rows <= 0 || cols <= 0) return;
  layernorm_backward_rows_kernel<<<blocks_of(rows, kRowsPerBlock), kThreads, 0, stream>>>(dinp, dout, inp, mean, rstd,
                                                                                          weight, rows, cols);
  TF_CUDA_CHECK_LAUNCH();
  column_sums<2>(ColumnOutputs<2>{{dweight, dbias}}, rows, cols, LayerNormParamTerm{dout, inp, mean, rstd, cols},
                 stream);
}

}  // namespace tf::cuda
