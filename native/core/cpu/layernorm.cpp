// LayerNorm forward (mean and rstd per row kept for the backward pass) and backward.
#include <algorithm>
#include <cmath>

#include "../thread_pool.h"
#include "column_sums.h"
#include "encoder_kernels.h"
#include "simd.h"

namespace tf::cpu {

namespace {

using namespace simd;

// One row. Two passes (mean, then squared deviations) rather than E[x²] - E[x]², which
// loses precision when the mean is large against the spread, as in deep residual streams.
TF_SIMD_CLONES
void layernorm_row(float* out, float* mean_out, float* rstd_out, const float* x, const float* w, const float* b,
                   int64_t n, float eps) {
  const int64_t nv = n / kLanes * kLanes;
  vf8 acc = splat(0.0f);
  for (int64_t i = 0; i < nv; i += kLanes) acc += load(x + i);
  float sum = hsum(acc);
  for (int64_t i = nv; i < n; ++i) sum += x[i];
  const float m = sum / float(n);

  vf8 acc2 = splat(0.0f);
  const vf8 vm = splat(m);
  for (int64_t i = 0; i < nv; i += kLanes) {
    vf8 d = load(x + i) - vm;
    acc2 += d * d;
  }
  float ss = hsum(acc2);
  for (int64_t i = nv; i < n; ++i) ss += (x[i] - m) * (x[i] - m);
  const float s = 1.0f / std::sqrt(ss / float(n) + eps);

  const vf8 vs = splat(s);
  for (int64_t i = 0; i < nv; i += kLanes) store(out + i, (load(x + i) - vm) * vs * load(w + i) + load(b + i));
  for (int64_t i = nv; i < n; ++i) out[i] = (x[i] - m) * s * w[i] + b[i];
  if (mean_out) *mean_out = m;
  if (rstd_out) *rstd_out = s;
}

// One row of the backward. With x̂ = (x - mean) rstd and g = dout * w:
// dx = rstd (g - mean(g) - x̂ mean(g x̂)); the gain and bias gradients of the row are added
// into dw and db (the caller's partial sums for this block of rows).
TF_SIMD_CLONES
void layernorm_backward_row(float* dx, float* dw, float* db, const float* dy, const float* x, const float* w,
                            float m, float s, int64_t n) {
  const int64_t nv = n / kLanes * kLanes;
  const vf8 vm = splat(m), vs = splat(s);
  vf8 acc_g = splat(0.0f), acc_gx = splat(0.0f);
  for (int64_t i = 0; i < nv; i += kLanes) {
    const vf8 g = load(dy + i) * load(w + i);
    acc_g += g;
    acc_gx += g * ((load(x + i) - vm) * vs);
  }
  float sum_g = hsum(acc_g), sum_gx = hsum(acc_gx);
  for (int64_t i = nv; i < n; ++i) {
    const float g = dy[i] * w[i];
    sum_g += g;
    sum_gx += g * ((x[i] - m) * s);
  }
  const float mean_g = sum_g / float(n), mean_gx = sum_gx / float(n);
  const vf8 vmg = splat(mean_g), vmgx = splat(mean_gx);
  for (int64_t i = 0; i < nv; i += kLanes) {
    const vf8 d = load(dy + i);
    const vf8 xh = (load(x + i) - vm) * vs;
    store(dx + i, load(dx + i) + vs * (d * load(w + i) - vmg - xh * vmgx));
    store(dw + i, load(dw + i) + d * xh);
    store(db + i, load(db + i) + d);
  }
  for (int64_t i = nv; i < n; ++i) {
    const float xh = (x[i] - m) * s;
    dx[i] += s * (dy[i] * w[i] - mean_g - xh * mean_gx);
    dw[i] += dy[i] * xh;
    db[i] += dy[i];
  }
}

}  // namespace

void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                        const float* mean, const float* rstd, const float* weight, int64_t rows, int64_t cols) {
  float* const outs[2] = {dweight, dbias};
  blocked_column_sums<2>(outs, rows, cols, [&](int64_t r0, int64_t r1, float* partial) {
    for (int64_t r = r0; r < r1; ++r)
      layernorm_backward_row(dinp + r * cols, partial, partial + cols, dout + r * cols, inp + r * cols, weight,
                             mean[r], rstd[r], cols);
  });
}

void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                       const float* bias, int64_t rows, int64_t cols, float eps) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1));
  parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      layernorm_row(out + r * cols, mean ? mean + r : nullptr, rstd ? rstd + r : nullptr, inp + r * cols, weight,
                    bias, cols, eps);
  });
}

}  // namespace tf::cpu
