// The memory-bound steps around the encoder's GEMMs, twins of cpu/bias_activation.cpp:
// bias, bias + GELU, bias + residual, row gathers and scatters, and the bias gradient;
// and BERT's pooler activation, bias + tanh and its backward (cpu/text_rows.cpp,
// cpu/text_backward.cpp). One thread per element (columns innermost, so warps read
// contiguous memory). Every op but the activations is plain float adds in the CPU's
// order and comes out bit-identical; the GELU uses erfc (accurate in the negative tail)
// where the CPU uses a vectorised erf, tanh is CUDA's tanhf (within 2 ulp).
#include "column_sums.cuh"
#include "encoder_kernels.h"
#include "launch.cuh"
#include "text_kernels.h"

namespace tf::cuda {

namespace {

__global__ void add_bias_kernel(float* x, const float* bias, int64_t rows, int64_t cols) {
  TF_GRID_STRIDE(i, rows * cols) x[i] += bias[i % cols];
}

__global__ void bias_gelu_kernel(float* pre, float* out, const float* bias, int64_t rows, int64_t cols) {
  TF_GRID_STRIDE(i, rows * cols) {
    const float x = pre[i] + bias[i % cols];
    pre[i] = x;
    out[i] = gelu_exact(x);
  }
}

__global__ void bias_tanh_kernel(float* pre, float* out, const float* bias, int64_t rows, int64_t cols) {
  TF_GRID_STRIDE(i, rows * cols) {
    const float x = pre[i] + bias[i % cols];
    pre[i] = x;
    out[i] = tanhf(x);
  }
}

__global__ void tanh_backward_kernel(float* dpre, const float* out, const float* dout, int64_t n) {
  TF_GRID_STRIDE(i, n) dpre[i] = dout[i] * (1.0f - out[i] * out[i]);
}

__global__ void bias_residual_kernel(float* out, float* proj, const float* bias, const float* residual, int64_t rows,
                                     int64_t cols) {
  TF_GRID_STRIDE(i, rows * cols) {
    const float x = proj[i] + bias[i % cols];
    proj[i] = x;
    out[i] = residual[i] + x;
  }
}

__global__ void gather_rows_kernel(float* dst, const float* src, int64_t rows, int64_t cols, int64_t src_stride) {
  TF_GRID_STRIDE(i, rows * cols) dst[i] = src[(i / cols) * src_stride + i % cols];
}

__global__ void scale_shift_kernel(float* x, const float* scale, const float* shift, int64_t rows, int64_t cols) {
  TF_GRID_STRIDE(i, rows * cols) x[i] = __fmaf_rn(x[i], scale[i % cols], shift[i % cols]);
}

__global__ void scatter_add_rows_kernel(float* dst, const float* src, int64_t rows, int64_t cols, int64_t dst_stride) {
  TF_GRID_STRIDE(i, rows * cols) dst[(i / cols) * dst_stride + i % cols] += src[i];
}

struct PlainTerm {
  const float* x;
  int64_t cols;
  __device__ void operator()(int64_t r, int64_t c, float* v) const { v[0] = x[r * cols + c]; }
};

}  // namespace

void scale_shift_columns(float* x, const float* scale, const float* shift, int64_t rows, int64_t cols,
                         cudaStream_t stream) {
  if (rows * cols <= 0) return;
  scale_shift_kernel<<<grid_for(rows * cols), kThreads, 0, stream>>>(x, scale, shift, rows, cols);
  TF_CUDA_CHECK_LAUNCH();
}

void add_bias(float* x, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows * cols <= 0) return;
  add_bias_kernel<<<grid_for(rows * cols), kThreads, 0, stream>>>(x, bias, rows, cols);
  TF_CUDA_CHECK_LAUNCH();
}

void bias_backward(float* dbias, const float* dout, int64_t rows, int64_t cols, cudaStream_t stream) {
  column_sums<1>(ColumnOutputs<1>{{dbias}}, rows, cols, PlainTerm{dout, cols}, stream);
}

void bias_gelu_forward(float* pre, float* out, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows * cols <= 0) return;
  bias_gelu_kernel<<<grid_for(rows * cols), kThreads, 0, stream>>>(pre, out, bias, rows, cols);
  TF_CUDA_CHECK_LAUNCH();
}

void bias_tanh_forward(float* pre, float* out, const float* bias, int64_t rows, int64_t cols, cudaStream_t stream) {
  if (rows * cols <= 0) return;
  bias_tanh_kernel<<<grid_for(rows * cols), kThreads, 0, stream>>>(pre, out, bias, rows, cols);
  TF_CUDA_CHECK_LAUNCH();
}

void tanh_backward(float* dpre, const float* out, const float* dout, int64_t n, cudaStream_t stream) {
  if (n <= 0) return;
  tanh_backward_kernel<<<grid_for(n), kThreads, 0, stream>>>(dpre, out, dout, n);
  TF_CUDA_CHECK_LAUNCH();
}

void bias_residual_forward(float* out, float* proj, const float* bias, const float* residual, int64_t rows,
                           int64_t cols, cudaStream_t stream) {
  if (rows * cols <= 0) return;
  bias_residual_kernel<<<grid_for(rows * cols), kThreads, 0, stream>>>(out, proj, bias, residual, rows, cols);
  TF_CUDA_CHECK_LAUNCH();
}

void gather_rows(float* dst, const float* src, int64_t rows, int64_t cols, int64_t src_stride, cudaStream_t stream) {
  if (rows * cols <= 0) return;
  gather_rows_kernel<<<grid_for(rows * cols), kThreads, 0, stream>>>(dst, src, rows, cols, src_stride);
  TF_CUDA_CHECK_LAUNCH();
}

void scatter_add_rows(float* dst, const float* src, int64_t rows, int64_t cols, int64_t dst_stride,
                      cudaStream_t stream) {
  if (rows * cols <= 0) return;
  scatter_add_rows_kernel<<<grid_for(rows * cols), kThreads, 0, stream>>>(dst, src, rows, cols, dst_stride);
  TF_CUDA_CHECK_LAUNCH();
}

}  // namespace tf::cuda
