// Multi-head self-attention whose keys may include padding (BERT batches of sentences
// of different lengths). Per (sample, head) the real keys are gathered first: K
// transposed into kt (head_dim x n) and V into vv (n x head_dim), n = real tokens. Every
// query then scores only those n keys, so the softmax never sees a padded key; the
// padded keys' attention probabilities are written as exact zeros, which is what HF's
// additive mask of float32's lowest value yields after the softmax.
//
// The loops run over contiguous memory (scores over keys, outputs over head_dim) so the
// compiler vectorises them. Batches without padding take attention_forward's
// register-blocked kernel instead (the model decides), so this path only pays for
// padded batches.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../error.h"
#include "../thread_pool.h"
#include "simd.h"
#include "softmax_row.h"
#include "text_kernels.h"

namespace tf::cpu {

namespace {

using namespace simd;

// One (sample, head). q, k, v point at the head's first column of token 0 in a buffer of
// row stride `stride`; keys lists the n real token indices; att is (tokens x tokens);
// scratch holds 2 * head_dim * n + n floats.
TF_SIMD_CLONES
void masked_head(float* out, int64_t out_stride, float* att, const float* q, const float* k, const float* v,
                 int64_t stride, int64_t tokens, int64_t queries, int64_t head_dim, float scale,
                 const std::vector<int64_t>& keys, float* scratch) {
  const int64_t n = int64_t(keys.size());
  float* kt = scratch;                 // head_dim x n
  float* vv = kt + head_dim * n;       // n x head_dim
  float* s = vv + n * head_dim;        // n
  for (int64_t j = 0; j < n; ++j) {
    const float* krow = k + keys[size_t(j)] * stride;
    const float* vrow = v + keys[size_t(j)] * stride;
    for (int64_t d = 0; d < head_dim; ++d) {
      kt[d * n + j] = krow[d];
      vv[j * head_dim + d] = vrow[d];
    }
  }
  for (int64_t i = 0; i < queries; ++i) {
    const float* qi = q + i * stride;
    for (int64_t j = 0; j < n; ++j) s[j] = 0.0f;
    for (int64_t d = 0; d < head_dim; ++d) {
      const float qd = qi[d] * scale;
      const float* krow = kt + d * n;
      for (int64_t j = 0; j < n; ++j) s[j] += qd * krow[j];
    }
    softmax_row(s, n);
    float* a = att + i * tokens;
    for (int64_t j = 0; j < tokens; ++j) a[j] = 0.0f;
    for (int64_t j = 0; j < n; ++j) a[keys[size_t(j)]] = s[j];
    float* o = out + i * out_stride;
    for (int64_t d = 0; d < head_dim; ++d) o[d] = 0.0f;
    for (int64_t j = 0; j < n; ++j) {
      const float p = s[j];
      const float* vj = vv + j * head_dim;
      for (int64_t d = 0; d < head_dim; ++d) o[d] += p * vj[d];
    }
  }
}

}  // namespace

void attention_masked_forward(float* out, float* att, const float* qkv, const uint8_t* key_mask, int64_t batch,
                              int64_t tokens, int64_t channels, int64_t heads, int64_t queries) {
  queries = std::max<int64_t>(0, std::min(queries, tokens));
  const int64_t head_dim = channels / heads;
  const int64_t stride = 3 * channels;
  const float scale = 1.0f / std::sqrt(float(head_dim));
  std::vector<std::vector<int64_t>> keys(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b) {
    for (int64_t t = 0; t < tokens; ++t)
      if (!key_mask || key_mask[b * tokens + t]) keys[size_t(b)].push_back(t);
    if (keys[size_t(b)].empty())
      throw Error("attention: sample " + std::to_string(b) + " has no real token to attend to");
  }
  parallel_for(batch * heads, 1, [&](int64_t p0, int64_t p1) {
    thread_local std::vector<float> scratch;
    scratch.resize(size_t(2 * head_dim * tokens + tokens));
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t b = p / heads, h = p % heads;
      const float* base = qkv + b * tokens * stride + h * head_dim;
      masked_head(out + b * tokens * channels + h * head_dim, channels, att + p * tokens * tokens, base,
                  base + channels, base + 2 * channels, stride, tokens, queries, head_dim, scale, keys[size_t(b)],
                  scratch.data());
    }
  });
}

}  // namespace tf::cpu
