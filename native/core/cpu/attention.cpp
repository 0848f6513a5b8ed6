// Multi-head self-attention forward: softmax(Q Kᵀ / sqrt d) V for every (sample, head).
//
// Threads split the (sample, head) pairs. Each pair is small (tokens x head_dim, e.g.
// 65 x 32 in a CIFAR ViT): far too small for a BLAS call to pay off, and large enough
// that plain loops run at a fraction of the FMA units' rate. So both products are small
// register-blocked GEMMs: a block of 4 query rows is held in registers against 16 keys
// (Q Kᵀ, with K transposed and zero-padded into scratch), then against the head's whole
// width of V (P V). Head widths that are not a multiple of 8 take a plain-loop path.
#include <cmath>
#include <vector>

#include "../thread_pool.h"
#include "attention_blocks.h"
#include "encoder_kernels.h"
#include "simd.h"
#include "softmax_row.h"

namespace tf::cpu {

namespace {

using namespace simd;

using namespace attention_blocks;

// One (sample, head) with head_dim a multiple of 8. q, k, v point at the head's first
// column in token 0 of a (tokens x stride) buffer; att is (tokens x tokens); out has
// row stride out_stride. scratch holds head_dim * tp + kRows * tp floats.
TF_SIMD_CLONES
void attention_head_blocked(float* out, int64_t out_stride, float* att, const float* q, const float* k, const float* v,
                            int64_t stride, int64_t tokens, int64_t queries, int64_t head_dim, float scale,
                            float* scratch) {
  const int64_t tp = (tokens + kLanes - 1) / kLanes * kLanes;
  float* kt = scratch;
  float* s = scratch + head_dim * tp;
  for (int64_t d = 0; d < head_dim; ++d)
    for (int64_t j = tokens; j < tp; ++j) kt[d * tp + j] = 0.0f;
  for (int64_t j = 0; j < tokens; ++j)
    for (int64_t d = 0; d < head_dim; ++d) kt[d * tp + j] = k[j * stride + d];

  for (int64_t i = 0; i < queries; i += kRows) {
    const int64_t rows = std::min(kRows, queries - i);
    const float* qi = q + i * stride;
    switch (rows) {
      case 4: scores_block<4>(s, tp, qi, stride, kt, tp, head_dim, scale); break;
      case 3: scores_block<3>(s, tp, qi, stride, kt, tp, head_dim, scale); break;
      case 2: scores_block<2>(s, tp, qi, stride, kt, tp, head_dim, scale); break;
      default: scores_block<1>(s, tp, qi, stride, kt, tp, head_dim, scale); break;
    }
    for (int64_t r = 0; r < rows; ++r) {
      softmax_row(s + r * tp, tokens);
      float* a = att + (i + r) * tokens;
      for (int64_t j = 0; j < tokens; ++j) a[j] = s[r * tp + j];
    }
    float* oi = out + i * out_stride;
    switch (rows) {
      case 4: values_rows<4>(oi, out_stride, s, tp, v, stride, tokens, head_dim); break;
      case 3: values_rows<3>(oi, out_stride, s, tp, v, stride, tokens, head_dim); break;
      case 2: values_rows<2>(oi, out_stride, s, tp, v, stride, tokens, head_dim); break;
      default: values_rows<1>(oi, out_stride, s, tp, v, stride, tokens, head_dim); break;
    }
  }
}

// The same for any head_dim, with loops whose innermost index runs over contiguous
// memory. scratch holds head_dim * tokens floats.
TF_SIMD_CLONES
void attention_head_plain(float* out, int64_t out_stride, float* att, const float* q, const float* k, const float* v,
                          int64_t stride, int64_t tokens, int64_t queries, int64_t head_dim, float scale, float* kt) {
  for (int64_t j = 0; j < tokens; ++j)
    for (int64_t d = 0; d < head_dim; ++d) kt[d * tokens + j] = k[j * stride + d];
  for (int64_t i = 0; i < queries; ++i) {
    const float* qi = q + i * stride;
    float* s = att + i * tokens;
    for (int64_t j = 0; j < tokens; ++j) s[j] = 0.0f;
    for (int64_t d = 0; d < head_dim; ++d) {
      const float qd = qi[d] * scale;
      const float* krow = kt + d * tokens;
      for (int64_t j = 0; j < tokens; ++j) s[j] += qd * krow[j];
    }
    softmax_row(s, tokens);
    float* o = out + i * out_stride;
    for (int64_t d = 0; d < head_dim; ++d) o[d] = 0.0f;
    for (int64_t j = 0; j < tokens; ++j) {
      const float p = s[j];
      const float* vj = v + j * stride;
      for (int64_t d = 0; d < head_dim; ++d) o[d] += p * vj[d];
    }
  }
}

}  // namespace

void attention_forward(float* out, float* att, const float* qkv, int64_t batch, int64_t tokens, int64_t channels,
                       int64_t heads, int64_t queries) {
  queries = std::max<int64_t>(0, std::min(queries, tokens));
  const int64_t head_dim = channels / heads;
  const int64_t stride = 3 * channels;
  const float scale = 1.0f / std::sqrt(float(head_dim));
  const bool blocked = head_dim % kLanes == 0;
  const int64_t tp = (tokens + kLanes - 1) / kLanes * kLanes;
  parallel_for(batch * heads, 1, [&](int64_t p0, int64_t p1) {
    thread_local std::vector<float> scratch;
    scratch.resize(size_t(head_dim * tp + kRows * tp));
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t b = p / heads, h = p % heads;
      const float* base = qkv + b * tokens * stride + h * head_dim;
      float* o = out + b * tokens * channels + h * head_dim;
      float* a = att + p * tokens * tokens;
      if (blocked)
        attention_head_blocked(o, channels, a, base, base + channels, base + 2 * channels, stride, tokens, queries,
                               head_dim, scale, scratch.data());
      else
        attention_head_plain(o, channels, a, base, base + channels, base + 2 * channels, stride, tokens, queries,
                             head_dim, scale, scratch.data());
    }
  });
}

}  // namespace tf::cpu
