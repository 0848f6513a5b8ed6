// Multi-head self-attention backward, from the softmax probabilities P the forward kept.
// For one (sample, head) with O = P V and P = softmax(S), S = Q Kᵀ / sqrt d:
//   dV = Pᵀ dO,  dP = dO Vᵀ,  dS = P ∘ (dP - rowsum(P ∘ dP)),  dQ = dS K / sqrt d,
//   dK = dSᵀ Q / sqrt d.
// Threads split the (sample, head) pairs; each writes its own columns of dqkv, so the
// result does not depend on scheduling. Within a pair, when the head width is a multiple
// of 8, all four products are the forward's register-blocked small GEMMs
// (attention_blocks.h): dP against Vᵀ in scratch like the scores against Kᵀ, and dQ, dK,
// dV like P V, from dS, dSᵀ and Pᵀ (transposed into scratch). Other widths take plain
// loops whose innermost index runs over contiguous memory.
#include <algorithm>
#include <cmath>
#include <vector>

#include "../thread_pool.h"
#include "attention_blocks.h"
#include "encoder_kernels.h"
#include "simd.h"

namespace tf::cpu {

namespace {

using namespace simd;
using namespace attention_blocks;

// head_dim a multiple of 8. scratch: vt (d x tp), ds (T x tp), dst and pt (T x tp each).
TF_SIMD_CLONES
void attention_head_backward_blocked(float* dq, float* dk, float* dv, int64_t dstride, const float* dout,
                                     int64_t ostride, const float* q, const float* k, const float* v, int64_t stride,
                                     const float* att, int64_t T, int64_t d, float scale, float* scratch) {
  const int64_t tp = (T + kLanes - 1) / kLanes * kLanes;
  float* vt = scratch;
  float* ds = vt + d * tp;
  float* dst = ds + T * tp;
  float* pt = dst + T * tp;
  for (int64_t c = 0; c < d; ++c)
    for (int64_t j = T; j < tp; ++j) vt[c * tp + j] = 0.0f;
  for (int64_t j = 0; j < T; ++j)
    for (int64_t c = 0; c < d; ++c) vt[c * tp + j] = v[j * stride + c];
  // dP = dO Vᵀ a block of rows at a time, then dS = P ∘ (dP - rowsum(P ∘ dP)) / sqrt d.
  for (int64_t i = 0; i < T; i += kRows) {
    const int64_t rows = std::min(kRows, T - i);
    scores_rows(rows, ds + i * tp, tp, dout + i * ostride, ostride, vt, tp, d, 1.0f);
    for (int64_t r = i; r < i + rows; ++r) {
      float* row = ds + r * tp;
      const float* p = att + r * T;
      float dot = 0.0f;
      for (int64_t j = 0; j < T; ++j) dot += p[j] * row[j];
      for (int64_t j = 0; j < T; ++j) row[j] = p[j] * (row[j] - dot) * scale;
    }
  }
  // dQ = dS K.
  for (int64_t i = 0; i < T; i += kRows)
    values_rows_n(std::min(kRows, T - i), dq + i * dstride, dstride, ds + i * tp, tp, k, stride, T, d);
  // dK = dSᵀ Q and dV = Pᵀ dO, from the transposes.
  for (int64_t i = 0; i < T; ++i)
    for (int64_t j = 0; j < T; ++j) {
      dst[j * tp + i] = ds[i * tp + j];
      pt[j * tp + i] = att[i * T + j];
    }
  for (int64_t j = 0; j < T; j += kRows) {
    const int64_t rows = std::min(kRows, T - j);
    values_rows_n(rows, dk + j * dstride, dstride, dst + j * tp, tp, q, stride, T, d);
    values_rows_n(rows, dv + j * dstride, dstride, pt + j * tp, tp, dout, ostride, T, d);
  }
}

// Any head width. scratch: vt (d x T), dp (T), dk and dv accumulators (T x d each), dq row (d).
TF_SIMD_CLONES
void attention_head_backward(float* dq, float* dk, float* dv, int64_t dstride, const float* dout, int64_t ostride,
                             const float* q, const float* k, const float* v, int64_t stride, const float* att,
                             int64_t tokens, int64_t d, float scale, float* scratch) {
  const int64_t T = tokens;
  float* vt = scratch;
  float* dp = vt + d * T;
  float* dk_acc = dp + T;
  float* dv_acc = dk_acc + T * d;
  float* dq_row = dv_acc + T * d;
  for (int64_t j = 0; j < T; ++j)
    for (int64_t c = 0; c < d; ++c) vt[c * T + j] = v[j * stride + c];
  std::fill(dk_acc, dk_acc + 2 * T * d, 0.0f);

  for (int64_t i = 0; i < T; ++i) {
    const float* doi = dout + i * ostride;
    const float* qi = q + i * stride;
    const float* p = att + i * T;
    for (int64_t j = 0; j < T; ++j) dp[j] = 0.0f;
    for (int64_t c = 0; c < d; ++c) {
      const float g = doi[c];
      const float* vrow = vt + c * T;
      for (int64_t j = 0; j < T; ++j) dp[j] += g * vrow[j];
    }
    float dot = 0.0f;
    for (int64_t j = 0; j < T; ++j) dot += p[j] * dp[j];
    for (int64_t c = 0; c < d; ++c) dq_row[c] = 0.0f;
    for (int64_t j = 0; j < T; ++j) {
      const float ds = p[j] * (dp[j] - dot) * scale;
      const float pj = p[j];
      const float* kj = k + j * stride;
      float* dkj = dk_acc + j * d;
      float* dvj = dv_acc + j * d;
      for (int64_t c = 0; c < d; ++c) {
        dq_row[c] += ds * kj[c];
        dkj[c] += ds * qi[c];
        dvj[c] += pj * doi[c];
      }
    }
    float* dqi = dq + i * dstride;
    for (int64_t c = 0; c < d; ++c) dqi[c] = dq_row[c];
  }
  for (int64_t j = 0; j < T; ++j)
    for (int64_t c = 0; c < d; ++c) {
      dk[j * dstride + c] = dk_acc[j * d + c];
      dv[j * dstride + c] = dv_acc[j * d + c];
    }
}

}  // namespace

void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* att, int64_t batch,
                        int64_t tokens, int64_t channels, int64_t heads) {
  const int64_t d = channels / heads;
  const int64_t stride = 3 * channels;
  const float scale = 1.0f / std::sqrt(float(d));
  const bool blocked = d % simd::kLanes == 0;
  const int64_t tp = (tokens + simd::kLanes - 1) / simd::kLanes * simd::kLanes;
  parallel_for(batch * heads, 1, [&](int64_t p0, int64_t p1) {
    thread_local std::vector<float> scratch;
    scratch.resize(size_t(blocked ? d * tp + 3 * tokens * tp : 3 * d * tokens + tokens + d));
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t b = p / heads, h = p % heads;
      const float* base = qkv + b * tokens * stride + h * d;
      float* dbase = dqkv + b * tokens * stride + h * d;
      if (blocked)
        attention_head_backward_blocked(dbase, dbase + channels, dbase + 2 * channels, stride,
                                        dout + b * tokens * channels + h * d, channels, base, base + channels,
                                        base + 2 * channels, stride, att + p * tokens * tokens, tokens, d, scale,
                                        scratch.data());
      else
        attention_head_backward(dbase, dbase + channels, dbase + 2 * channels, stride,
                              dout + b * tokens * channels + h * d, channels, base, base + channels,
                              base + 2 * channels, stride, att + p * tokens * tokens, tokens, d, scale,
                              scratch.data());
    }
  });
}

}  // namespace tf::cpu
