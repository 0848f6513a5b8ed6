// LayerNorm forward (mean and rstd per row kept for the backward pass).
#include <algorithm>
#include <cmath>

#include "../thread_pool.h"
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

}  // namespace

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
