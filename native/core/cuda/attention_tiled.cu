// Multi-head self-attention forward, tiled: one block per (sample, head, 32 queries).
// The block's query rows sit in shared memory; K is staged 64 keys at a time to form
// the 32 x tokens score block (in shared memory), the rows are soft-maxed there and
// written to att, then V is staged 64 keys at a time for P V. Each thread holds a 2 x 4
// block of scores and a 2 x (head_dim / 16) block of outputs in registers, so shared
// memory is read about a quarter as often as the plain kernel reads global memory.
//
// Same semantics and float32 arithmetic as the plain kernel (attention.cu), key mask
// included (a padded key's score becomes -inf), sums in another order: tested against
// it. Applies when the head width is at most 128 and the score block fits in shared
// memory (attention_tiled_supported); the dispatch in attention.cu falls back to the
// plain kernel otherwise.
#include <cmath>
#include <mutex>

#include "encoder_kernels.h"
#include "launch.cuh"

namespace tf::cuda {

namespace {

constexpr int QT = 32;         // query rows per block
constexpr int KT = 64;         // keys per staged tile
constexpr int kMaxHeadDim = 128;
constexpr int kTx = 16, kTy = 16;  // 256 threads: tx over keys / columns, ty over queries

struct TiledShape {
  int64_t batch, tokens, channels, heads, head_dim, queries;
  float scale;
  const uint8_t* key_mask;  // (batch, tokens), non-zero = real key; null = no padding
};

// Shared memory: q (QT x (d + 1)), one K or V tile (KT x (d + 1)), scores (QT x tp).
// The +1 keeps the 16 rows a half-warp reads at one column in different banks.
size_t shared_bytes(int64_t tokens, int64_t head_dim) {
  const int64_t ld = head_dim + 1, tp = tokens + 1;
  return size_t(QT * ld + KT * ld + QT * tp) * sizeof(float);
}

__global__ void attention_forward_tiled_kernel(float* out, float* att, const float* qkv, TiledShape s) {
  extern __shared__ float smem[];
  const int64_t T = s.tokens, d = s.head_dim, ld = d + 1, tp = T + 1, stride = 3 * s.channels;
  float* qs = smem;              // QT x ld
  float* kv = qs + QT * ld;      // KT x ld
  float* sc = kv + KT * ld;      // QT x tp
  const int64_t bh = blockIdx.x, b = bh / s.heads, h = bh % s.heads;
  const int64_t q0 = int64_t(blockIdx.y) * QT;
  const int rows = int(s.queries - q0 < QT ? s.queries - q0 : QT);
  const int tid = threadIdx.x, tx = tid % kTx, ty = tid / kTx;
  const float* base = qkv + b * T * stride + h * d;

  // Query rows (zeros past the last one, so their scores are harmless and unused).
  for (int64_t idx = tid; idx < QT * d; idx += blockDim.x) {
    const int64_t r = idx / d, c = idx % d;
    qs[r * ld + c] = r < rows ? base[(q0 + r) * stride + c] : 0.0f;
  }

  // Scores, a tile of KT keys at a time.
  for (int64_t k0 = 0; k0 < T; k0 += KT) {
    const int keys = int(T - k0 < KT ? T - k0 : KT);
    __syncthreads();  // the previous tile is no longer read
    for (int64_t idx = tid; idx < KT * d; idx += blockDim.x) {
      const int64_t r = idx / d, c = idx % d;
      kv[r * ld + c] = r < keys ? base[s.channels + (k0 + r) * stride + c] : 0.0f;
    }
    __syncthreads();
    float acc[2][4] = {};
    for (int64_t c = 0; c < d; ++c) {
      const float a0 = qs[ty * ld + c], a1 = qs[(ty + kTy) * ld + c];
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const float kk = kv[(tx + kTx * u) * ld + c];
        acc[0][u] += a0 * kk;
        acc[1][u] += a1 * kk;
      }
    }
#pragma unroll
    for (int r = 0; r < 2; ++r)
#pragma unroll
      for (int u = 0; u < 4; ++u) {
        const int key = tx + kTx * u;
        if (key >= keys) continue;
        const bool padded = s.key_mask && !s.key_mask[b * T + k0 + key];
        sc[(ty + kTy * r) * tp + k0 + key] = padded ? -INFINITY : acc[r][u] * s.scale;
      }
  }
  __syncthreads();

  // Softmax of each query row in place; the probabilities go to att as well.
  const int warp = tid / 32, lane = tid % 32;
  for (int r = warp; r < rows; r += blockDim.x / 32) {
    float* row = sc + r * tp;
    float mx = -INFINITY;
    for (int64_t j = lane; j < T; j += 32) mx = fmaxf(mx, row[j]);
    mx = warp_max(mx);
    float sum = 0.0f;
    for (int64_t j = lane; j < T; j += 32) {
      const float e = expf(row[j] - mx);
      row[j] = e;
      sum += e;
    }
    sum = warp_sum(sum);
    const float inv = 1.0f / sum;
    float* a = att + (bh * T + q0 + r) * T;
    for (int64_t j = lane; j < T; j += 32) {
      const float p = row[j] * inv;
      row[j] = p;
      a[j] = p;
    }
  }

  // Output: P V, a tile of KT values at a time. Thread (tx, ty) owns query rows ty and
  // ty + 16 and the head's columns tx, tx + 16, ...
  float o[2][kMaxHeadDim / kTx] = {};
  for (int64_t k0 = 0; k0 < T; k0 += KT) {
    const int keys = int(T - k0 < KT ? T - k0 : KT);
    __syncthreads();  // scores are final; the K (or previous V) tile is no longer read
    for (int64_t idx = tid; idx < KT * d; idx += blockDim.x) {
      const int64_t r = idx / d, c = idx % d;
      kv[r * ld + c] = r < keys ? base[2 * s.channels + (k0 + r) * stride + c] : 0.0f;
    }
    __syncthreads();
    for (int j = 0; j < keys; ++j) {
      const float p0 = sc[ty * tp + k0 + j], p1 = sc[(ty + kTy) * tp + k0 + j];
#pragma unroll
      for (int u = 0; u < kMaxHeadDim / kTx; ++u) {
        const int64_t c = tx + kTx * u;
        if (c < d) {
          const float v = kv[j * ld + c];
          o[0][u] += p0 * v;
          o[1][u] += p1 * v;
        }
      }
    }
  }
#pragma unroll
  for (int r = 0; r < 2; ++r) {
    const int qr = ty + kTy * r;
    if (qr >= rows) continue;
    float* orow = out + (b * T + q0 + qr) * s.channels + h * d;
#pragma unroll
    for (int u = 0; u < kMaxHeadDim / kTx; ++u) {
      const int64_t c = tx + kTx * u;
      if (c < d) orow[c] = o[r][u];
    }
  }
}

int max_shared_optin() {
  static int bytes = [] {
    int dev = 0, v = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&v, cudaDevAttrMaxSharedMemoryPerBlockOptin, dev) != cudaSuccess)
      v = 48 * 1024;
    return v;
  }();
  return bytes;
}

}  // namespace

bool attention_tiled_supported(int64_t tokens, int64_t channels, int64_t heads) {
  if (heads <= 0 || channels % heads != 0) return false;
  const int64_t d = channels / heads;
  return d >= 1 && d <= kMaxHeadDim && tokens >= 1 && shared_bytes(tokens, d) <= size_t(max_shared_optin());
}

void attention_forward_tiled(float* out, float* att, const float* qkv, const uint8_t* key_mask, int64_t batch,
                             int64_t tokens, int64_t channels, int64_t heads, int64_t queries, cudaStream_t stream) {
  queries = queries < 0 ? 0 : queries > tokens ? tokens : queries;
  if (batch * heads * queries == 0 || channels == 0) return;
  TF_CHECK(attention_tiled_supported(tokens, channels, heads),
           "attention_forward_tiled: head width over 128 or too many tokens for shared memory");
  const int64_t d = channels / heads;
  const size_t bytes = shared_bytes(tokens, d);
  static std::once_flag once;
  std::call_once(once, [] {
    TF_CUDA_CHECK(cudaFuncSetAttribute(attention_forward_tiled_kernel, cudaFuncAttributeMaxDynamicSharedMemorySize,
                                       max_shared_optin()));
  });
  const TiledShape s{batch, tokens, channels, heads, d, queries, 1.0f / std::sqrt(float(d)), key_mask};
  dim3 grid(unsigned(batch * heads), unsigned((queries + QT - 1) / QT));
  attention_forward_tiled_kernel<<<grid, kTx * kTy, bytes, stream>>>(out, att, qkv, s);
  TF_CUDA_CHECK_LAUNCH();
}

}  // namespace tf::cuda
