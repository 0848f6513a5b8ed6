// The register-blocked building blocks of the attention kernels, shared by the forward
// (attention.cpp) and the backward (attention_backward.cpp): every product inside one
// (sample, head) is a small GEMM of a few rows against the head's columns, held in
// registers. Force-inlined into the callers, which are compiled per instruction set.
#pragma once

#include <cstdint>

#include "simd.h"

namespace tf::cpu::attention_blocks {

using namespace simd;

constexpr int64_t kRows = 4;  // query rows per register block

// s[r][j] = scale * q_r · k_j for R rows (q rows `stride` apart) and the padded key
// range [0, tp) of kt (head_dim x tp, K transposed). tp is a multiple of 8.
template <int R>
TF_SIMD_INLINE void scores_block(float* s, int64_t ldS, const float* q, int64_t stride, const float* kt, int64_t tp,
                                 int64_t head_dim, float scale) {
  int64_t j = 0;
  for (; j + 2 * kLanes <= tp; j += 2 * kLanes) {
    vf8 acc[R][2] = {};
    for (int64_t d = 0; d < head_dim; ++d) {
      const vf8 b0 = load(kt + d * tp + j), b1 = load(kt + d * tp + j + kLanes);
      for (int r = 0; r < R; ++r) {
        const vf8 a = splat(q[r * stride + d]);
        acc[r][0] += a * b0;
        acc[r][1] += a * b1;
      }
    }
    for (int r = 0; r < R; ++r) {
      store(s + r * ldS + j, acc[r][0] * splat(scale));
      store(s + r * ldS + j + kLanes, acc[r][1] * splat(scale));
    }
  }
  for (; j < tp; j += kLanes) {
    vf8 acc[R] = {};
    for (int64_t d = 0; d < head_dim; ++d) {
      const vf8 b0 = load(kt + d * tp + j);
      for (int r = 0; r < R; ++r) acc[r] += splat(q[r * stride + d]) * b0;
    }
    for (int r = 0; r < R; ++r) store(s + r * ldS + j, acc[r] * splat(scale));
  }
}

// o[r][0 .. 8 NV) = sum_j p[r][j] v_j[0 .. 8 NV) for R rows; v rows `stride` apart.
template <int R, int NV>
TF_SIMD_INLINE void values_block(float* o, int64_t out_stride, const float* p, int64_t ldP, const float* v,
                                 int64_t stride, int64_t tokens) {
  vf8 acc[R][NV] = {};
  for (int64_t j = 0; j < tokens; ++j) {
    vf8 b[NV];
    for (int k = 0; k < NV; ++k) b[k] = load(v + j * stride + k * kLanes);
    for (int r = 0; r < R; ++r) {
      const vf8 a = splat(p[r * ldP + j]);
      for (int k = 0; k < NV; ++k) acc[r][k] += a * b[k];
    }
  }
  for (int r = 0; r < R; ++r)
    for (int k = 0; k < NV; ++k) store(o + r * out_stride + k * kLanes, acc[r][k]);
}

template <int R>
TF_SIMD_INLINE void values_rows(float* o, int64_t out_stride, const float* p, int64_t ldP, const float* v,
                                int64_t stride, int64_t tokens, int64_t head_dim) {
  int64_t c = 0;
  for (; c + 4 * kLanes <= head_dim; c += 4 * kLanes) values_block<R, 4>(o + c, out_stride, p, ldP, v + c, stride, tokens);
  switch ((head_dim - c) / kLanes) {
    case 3: values_block<R, 3>(o + c, out_stride, p, ldP, v + c, stride, tokens); break;
    case 2: values_block<R, 2>(o + c, out_stride, p, ldP, v + c, stride, tokens); break;
    case 1: values_block<R, 1>(o + c, out_stride, p, ldP, v + c, stride, tokens); break;
    default: break;
  }
}

// scores_block for 1 to kRows rows.
TF_SIMD_INLINE void scores_rows(int64_t rows, float* s, int64_t ldS, const float* q, int64_t stride, const float* kt,
                                int64_t tp, int64_t head_dim, float scale) {
  switch (rows) {
    case 4: scores_block<4>(s, ldS, q, stride, kt, tp, head_dim, scale); break;
    case 3: scores_block<3>(s, ldS, q, stride, kt, tp, head_dim, scale); break;
    case 2: scores_block<2>(s, ldS, q, stride, kt, tp, head_dim, scale); break;
    default: scores_block<1>(s, ldS, q, stride, kt, tp, head_dim, scale); break;
  }
}

// values_rows for 1 to kRows rows.
TF_SIMD_INLINE void values_rows_n(int64_t rows, float* o, int64_t out_stride, const float* p, int64_t ldP,
                                  const float* v, int64_t stride, int64_t tokens, int64_t head_dim) {
  switch (rows) {
    case 4: values_rows<4>(o, out_stride, p, ldP, v, stride, tokens, head_dim); break;
    case 3: values_rows<3>(o, out_stride, p, ldP, v, stride, tokens, head_dim); break;
    case 2: values_rows<2>(o, out_stride, p, ldP, v, stride, tokens, head_dim); break;
    default: values_rows<1>(o, out_stride, p, ldP, v, stride, tokens, head_dim); break;
  }
}

}  // namespace tf::cpu::attention_blocks
