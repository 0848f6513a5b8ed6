// Multi-head self-attention forward: softmax(Q Kᵀ / sqrt d) V for every (sample, head).
//
// Threads split the (sample, head) pairs. Each pair is small (tokens x head_dim, e.g.
// 65 x 32 in a CIFAR ViT), far too small for a BLAS call to pay off, so the products are
// written as loops whose innermost index runs over contiguous memory (K is transposed
// into a scratch buffer first) and vectorise without reassociating sums.
#include <cmath>
#include <vector>

#include "../thread_pool.h"
#include "encoder_kernels.h"
#include "simd.h"

namespace tf::cpu {

namespace {

using namespace simd;

// Softmax of one row in place (n scores), using our vectorised exp.
TF_SIMD_INLINE void softmax_row(float* s, int64_t n) {
  const int64_t nv = n / kLanes * kLanes;
  float m = -INFINITY;
  if (nv) {
    vf8 vm = load(s);
    for (int64_t j = kLanes; j < nv; j += kLanes) vm = vmax(vm, load(s + j));
    m = hmax(vm);
  }
  for (int64_t j = nv; j < n; ++j) m = s[j] > m ? s[j] : m;
  const vf8 vmx = splat(m);
  vf8 acc = splat(0.0f);
  for (int64_t j = 0; j < nv; j += kLanes) {
    vf8 e = exp(load(s + j) - vmx);
    store(s + j, e);
    acc += e;
  }
  float sum = hsum(acc);
  for (int64_t j = nv; j < n; ++j) {
    s[j] = exp1(s[j] - m);
    sum += s[j];
  }
  const float inv = 1.0f / sum;
  for (int64_t j = 0; j < n; ++j) s[j] *= inv;
}

// One (sample, head): q, k, v point at the head's first column in token 0 of a
// (tokens x stride) buffer; att is (tokens x tokens); out has row stride out_stride.
// kt is scratch of head_dim * tokens floats.
TF_SIMD_CLONES
void attention_head(float* out, int64_t out_stride, float* att, const float* q, const float* k, const float* v,
                    int64_t stride, int64_t tokens, int64_t head_dim, float scale, float* kt) {
  for (int64_t j = 0; j < tokens; ++j)
    for (int64_t d = 0; d < head_dim; ++d) kt[d * tokens + j] = k[j * stride + d];

  for (int64_t i = 0; i < tokens; ++i) {
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
                       int64_t heads) {
  const int64_t head_dim = channels / heads;
  const int64_t stride = 3 * channels;
  const float scale = 1.0f / std::sqrt(float(head_dim));
  parallel_for(batch * heads, 1, [&](int64_t p0, int64_t p1) {
    thread_local std::vector<float> kt;
    kt.resize(size_t(head_dim * tokens));
    for (int64_t p = p0; p < p1; ++p) {
      const int64_t b = p / heads, h = p % heads;
      const float* base = qkv + b * tokens * stride + h * head_dim;
      attention_head(out + b * tokens * channels + h * head_dim, channels, att + p * tokens * tokens, base,
                     base + channels, base + 2 * channels, stride, tokens, head_dim, scale, kt.data());
    }
  });
}

}  // namespace tf::cpu
