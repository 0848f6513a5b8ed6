// Multi-head self-attention, forward and backward, the plain way: a warp per query row
// (forward, and the dQ half of the backward) or per key row (the dK, dV half), for any
// token count and head width. Twins of cpu/attention.cpp and cpu/attention_backward.cpp,
// with the same layouts: qkv (batch, tokens, 3 * channels), att (batch, heads, tokens,
// tokens) = softmax(Q Kᵀ / sqrt d), out (batch, tokens, channels). float32 sums as on
// the CPU, in another order: results agree within float32 rounding.
//
// This is the reference the tiled forward (attention_tiled.cu) is tested against, and
// what the backend runs where the tiled kernel does not apply.
//
// BERT's padded batches use the same kernels with a key mask (batch, tokens): a padded
// key's score is set to -inf before the softmax, so its probability comes out as an
// exact zero, as on the CPU (which leaves those keys out), and the real keys' softmax is
// the CPU's up to the order of the sums. The backward needs no mask: a zero probability
// already gives its key no gradient.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <string>

#include "encoder_kernels.h"
#include "launch.cuh"
#include "text_kernels.h"

namespace tf::cuda {

namespace {

constexpr int kWarps = kThreads / 32;

struct Head {
  int64_t tokens, channels, heads, head_dim;
  float scale;
  const uint8_t* key_mask;  // (batch, tokens), non-zero = real key; null = no padding
};

// One warp per (sample, head, query i < queries). Lanes split the keys for the scores
// (which go to att, then become probabilities in place) and the head's columns for the
// output.
__global__ void attention_forward_plain_kernel(float* out, float* att, const float* qkv, int64_t batch, Head h,
                                               int64_t queries) {
  const int64_t row = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (row >= batch * h.heads * queries) return;
  const int64_t i = row % queries, bh = row / queries, b = bh / h.heads, hd = bh % h.heads;
  const int64_t T = h.tokens, d = h.head_dim, stride = 3 * h.channels;
  const float* base = qkv + b * T * stride + hd * d;
  const float* q = base + i * stride;
  float* a = att + (bh * T + i) * T;

  float mx = -INFINITY;
  for (int64_t j = lane; j < T; j += 32) {
    const float* k = base + h.channels + j * stride;
    float s = 0.0f;
    for (int64_t c = 0; c < d; ++c) s += q[c] * k[c];
    s = h.key_mask && !h.key_mask[b * T + j] ? -INFINITY : s * h.scale;
    a[j] = s;
    mx = fmaxf(mx, s);
  }
  mx = warp_max(mx);
  float sum = 0.0f;
  for (int64_t j = lane; j < T; j += 32) {
    const float e = expf(a[j] - mx);
    a[j] = e;
    sum += e;
  }
  sum = warp_sum(sum);
  const float inv = 1.0f / sum;
  for (int64_t j = lane; j < T; j += 32) a[j] *= inv;
  __syncwarp();  // every lane reads every probability below

  float* o = out + (b * T + i) * h.channels + hd * d;
  const float* v = base + 2 * h.channels;
  for (int64_t c = lane; c < d; c += 32) {
    float acc = 0.0f;
    for (int64_t j = 0; j < T; ++j) acc += a[j] * v[j * stride + c];
    o[c] = acc;
  }
}

// Backward, first half: one warp per query row i. dP_ij = dO_i · V_j,
// dS_ij = P_ij (dP_ij - sum_k P_ik dP_ik) / sqrt d (into ds), dQ_i = sum_j dS_ij K_j.
__global__ void attention_backward_query_kernel(float* dqkv, float* ds, const float* dout, const float* qkv,
                                                const float* att, int64_t batch, Head h) {
  const int64_t row = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  const int64_t T = h.tokens, d = h.head_dim, stride = 3 * h.channels;
  if (row >= batch * h.heads * T) return;
  const int64_t i = row % T, bh = row / T, b = bh / h.heads, hd = bh % h.heads;
  const float* base = qkv + b * T * stride + hd * d;
  const float* doi = dout + (b * T + i) * h.channels + hd * d;
  const float* p = att + (bh * T + i) * T;
  float* dsi = ds + (bh * T + i) * T;

  float dot = 0.0f;
  for (int64_t j = lane; j < T; j += 32) {
    const float* v = base + 2 * h.channels + j * stride;
    float s = 0.0f;
    for (int64_t c = 0; c < d; ++c) s += doi[c] * v[c];
    dsi[j] = s;
    dot += p[j] * s;
  }
  dot = warp_sum(dot);
  for (int64_t j = lane; j < T; j += 32) dsi[j] = p[j] * (dsi[j] - dot) * h.scale;
  __syncwarp();

  float* dq = dqkv + (b * T + i) * stride + hd * d;
  const float* k = base + h.channels;
  for (int64_t c = lane; c < d; c += 32) {
    float acc = 0.0f;
    for (int64_t j = 0; j < T; ++j) acc += dsi[j] * k[j * stride + c];
    dq[c] = acc;
  }
}

// Backward, second half: one warp per key row j. dK_j = sum_i dS_ij Q_i,
// dV_j = sum_i P_ij dO_i.
__global__ void attention_backward_key_kernel(float* dqkv, const float* ds, const float* dout, const float* qkv,
                                              const float* att, int64_t batch, Head h) {
  const int64_t row = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  const int64_t T = h.tokens, d = h.head_dim, stride = 3 * h.channels;
  if (row >= batch * h.heads * T) return;
  const int64_t j = row % T, bh = row / T, b = bh / h.heads, hd = bh % h.heads;
  const float* q = qkv + b * T * stride + hd * d;
  const float* dob = dout + b * T * h.channels + hd * d;
  const float* dsj = ds + bh * T * T + j;
  const float* pj = att + bh * T * T + j;
  float* dk = dqkv + (b * T + j) * stride + h.channels + hd * d;
  float* dv = dk + h.channels;
  for (int64_t c = lane; c < d; c += 32) {
    float acc_k = 0.0f, acc_v = 0.0f;
    for (int64_t i = 0; i < T; ++i) {
      acc_k += dsj[i * T] * q[i * stride + c];
      acc_v += pj[i * T] * dob[i * h.channels + c];
    }
    dk[c] = acc_k;
    dv[c] = acc_v;
  }
}

Head head_of(int64_t tokens, int64_t channels, int64_t heads, const uint8_t* key_mask = nullptr) {
  const int64_t d = channels / heads;
  return {tokens, channels, heads, d, 1.0f / std::sqrt(float(d)), key_mask};
}

// The first sample whose mask has no real token (atomicMin over such samples).
__global__ void first_empty_sample_kernel(const uint8_t* key_mask, int64_t batch, int64_t tokens,
                                          unsigned long long* first) {
  TF_GRID_STRIDE(b, batch) {
    bool any = false;
    for (int64_t t = 0; t < tokens && !any; ++t) any = key_mask[b * tokens + t] != 0;
    if (!any) atomicMin(first, (unsigned long long)b);
  }
}

// Throws the CPU's error when a sample has no key to attend to: its softmax would be
// 0 / 0. Waits for the stream.
void check_every_sample_has_a_key(const uint8_t* key_mask, int64_t batch, int64_t tokens, cudaStream_t stream) {
  Scratch first(sizeof(unsigned long long), stream);
  TF_CUDA_CHECK(cudaMemsetAsync(first.as<void>(), 0xff, sizeof(unsigned long long), stream));
  first_empty_sample_kernel<<<grid_for(batch), kThreads, 0, stream>>>(key_mask, batch, tokens,
                                                                      first.as<unsigned long long>());
  TF_CUDA_CHECK_LAUNCH();
  unsigned long long b = 0;
  download_now(&b, first.as<void>(), sizeof b, stream);
  if (b < (unsigned long long)batch)
    throw Error("attention: sample " + std::to_string(b) + " has no real token to attend to");
}

// TF_CUDA_ATTENTION=plain keeps the tiled forward out of the dispatch.
bool tiled_allowed() {
  static const bool allowed = [] {
    const char* env = std::getenv("TF_CUDA_ATTENTION");
    return !(env && std::strcmp(env, "plain") == 0);
  }();
  return allowed;
}

}  // namespace

void attention_forward_plain(float* out, float* att, const float* qkv, const uint8_t* key_mask, int64_t batch,
                             int64_t tokens, int64_t channels, int64_t heads, int64_t queries, cudaStream_t stream) {
  queries = queries < 0 ? 0 : queries > tokens ? tokens : queries;
  const int64_t rows = batch * heads * queries;
  if (rows == 0 || channels == 0) return;
  attention_forward_plain_kernel<<<blocks_of(rows, kWarps), kThreads, 0, stream>>>(
      out, att, qkv, batch, head_of(tokens, channels, heads, key_mask), queries);
  TF_CUDA_CHECK_LAUNCH();
}

void attention_backward_plain(float* dqkv, const float* dout, const float* qkv, const float* att, int64_t batch,
                              int64_t tokens, int64_t channels, int64_t heads, cudaStream_t stream) {
  const int64_t rows = batch * heads * tokens;
  if (rows == 0 || channels == 0) return;
  const Head h = head_of(tokens, channels, heads);
  Scratch ds(size_t(batch * heads * tokens * tokens) * sizeof(float), stream);
  attention_backward_query_kernel<<<blocks_of(rows, kWarps), kThreads, 0, stream>>>(dqkv, ds.as<float>(), dout, qkv,
                                                                                     att, batch, h);
  TF_CUDA_CHECK_LAUNCH();
  attention_backward_key_kernel<<<blocks_of(rows, kWarps), kThreads, 0, stream>>>(dqkv, ds.as<float>(), dout, qkv, att,
                                                                                  batch, h);
  TF_CUDA_CHECK_LAUNCH();
}

void attention_forward(float* out, float* att, const float* qkv, int64_t batch, int64_t tokens, int64_t channels,
                       int64_t heads, int64_t queries, cudaStream_t stream) {
  attention_masked_forward(out, att, qkv, nullptr, batch, tokens, channels, heads, queries, stream);
}

void attention_masked_forward(float* out, float* att, const float* qkv, const uint8_t* key_mask, int64_t batch,
                              int64_t tokens, int64_t channels, int64_t heads, int64_t queries, cudaStream_t stream) {
  if (key_mask && batch > 0 && tokens > 0) check_every_sample_has_a_key(key_mask, batch, tokens, stream);
  if (tiled_allowed() && attention_tiled_supported(tokens, channels, heads))
    attention_forward_tiled(out, att, qkv, key_mask, batch, tokens, channels, heads, queries, stream);
  else
    attention_forward_plain(out, att, qkv, key_mask, batch, tokens, channels, heads, queries, stream);
}

void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* att, int64_t batch,
                        int64_t tokens, int64_t channels, int64_t heads, cudaStream_t stream) {
  attention_backward_plain(dqkv, dout, qkv, att, batch, tokens, channels, heads, stream);
}

}  // namespace tf::cuda
