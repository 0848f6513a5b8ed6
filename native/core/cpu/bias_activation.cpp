// The memory-bound steps around the encoder's GEMMs, each fused into one pass over the
// GEMM output: bias, bias + GELU, bias + residual add, and row gathers; with the
// backward twins that are not GEMMs (bias gradients, row scatters).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "../thread_pool.h"
#include "column_sums.h"
#include "encoder_kernels.h"
#include "simd.h"

namespace tf::cpu {

namespace {

using namespace simd;

int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1)); }

TF_SIMD_CLONES
void bias_gelu_rows(float* pre, float* out, const float* bias, int64_t rows, int64_t cols) {
  const int64_t nv = cols / kLanes * kLanes;
  for (int64_t r = 0; r < rows; ++r) {
    float* p = pre + r * cols;
    float* o = out + r * cols;
    for (int64_t c = 0; c < nv; c += kLanes) {
      vf8 x = load(p + c) + load(bias + c);
      store(p + c, x);
      store(o + c, gelu(x));
    }
    for (int64_t c = nv; c < cols; ++c) {
      p[c] += bias[c];
      o[c] = gelu1(p[c]);
    }
  }
}

TF_SIMD_CLONES
void bias_residual_rows(float* out, float* proj, const float* bias, const float* residual, int64_t rows,
                        int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    float* p = proj + r * cols;
    float* o = out + r * cols;
    const float* res = residual + r * cols;
    for (int64_t c = 0; c < cols; ++c) {
      const float x = p[c] + bias[c];
      p[c] = x;
      o[c] = res[c] + x;
    }
  }
}

TF_SIMD_CLONES
void add_bias_rows(float* x, const float* bias, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * cols;
    for (int64_t c = 0; c < cols; ++c) row[c] += bias[c];
  }
}

TF_SIMD_CLONES
void scale_shift_rows(float* x, const float* scale, const float* shift, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * cols;
    for (int64_t c = 0; c < cols; ++c) row[c] = std::fma(row[c], scale[c], shift[c]);  // one rounding, as on CUDA
  }
}

TF_SIMD_CLONES
void add_rows(float* acc, const float* dout, int64_t rows, int64_t cols) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = dout + r * cols;
    for (int64_t c = 0; c < cols; ++c) acc[c] += row[c];
  }
}

}  // namespace

void bias_backward(float* dbias, const float* dout, int64_t rows, int64_t cols) {
  float* const outs[1] = {dbias};
  blocked_column_sums<1>(outs, rows, cols,
                         [&](int64_t r0, int64_t r1, float* partial) { add_rows(partial, dout + r0 * cols, r1 - r0, cols); });
}

void scatter_add_rows(float* dst, const float* src, int64_t rows, int64_t cols, int64_t dst_stride) {
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      float* d = dst + r * dst_stride;
      const float* s = src + r * cols;
      for (int64_t c = 0; c < cols; ++c) d[c] += s[c];
    }
  });
}

void add_bias(float* x, const float* bias, int64_t rows, int64_t cols) {
  parallel_for(rows, row_grain(cols),
               [&](int64_t r0, int64_t r1) { add_bias_rows(x + r0 * cols, bias, r1 - r0, cols); });
}

void scale_shift_columns(float* x, const float* scale, const float* shift, int64_t rows, int64_t cols) {
  parallel_for(rows, row_grain(cols),
               [&](int64_t r0, int64_t r1) { scale_shift_rows(x + r0 * cols, scale, shift, r1 - r0, cols); });
}

void bias_gelu_forward(float* pre, float* out, const float* bias, int64_t rows, int64_t cols) {
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1) {
    bias_gelu_rows(pre + r0 * cols, out + r0 * cols, bias, r1 - r0, cols);
  });
}

void bias_residual_forward(float* out, float* proj, const float* bias, const float* residual, int64_t rows,
                           int64_t cols) {
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1) {
    bias_residual_rows(out + r0 * cols, proj + r0 * cols, bias, residual + r0 * cols, r1 - r0, cols);
  });
}

void gather_rows(float* dst, const float* src, int64_t rows, int64_t cols, int64_t src_stride) {
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      std::memcpy(dst + r * cols, src + r * src_stride, size_t(cols) * sizeof(float));
  });
}

}  // namespace tf::cpu
