// Tiled SGEMM for when cuBLAS is absent: 64 x 64 output tiles per block, 16-deep slices
// of A and B staged in shared memory, each of the 256 threads accumulating a 4 x 4
// sub-tile in registers. Row-major, with transposes folded into the tile loads.
#include "cuda_check.h"
#include "kernels.cuh"

namespace tf::cuda {

namespace {

constexpr int BM = 64, BN = 64, BK = 16, THREADS = 256, TM = 4, TN = 4;

template <bool TA, bool TB>
__global__ void sgemm_tiled_kernel(int m, int n, int k, float alpha, const float* __restrict__ a, int64_t lda,
                                   const float* __restrict__ b, int64_t ldb, float beta, float* __restrict__ c,
                                   int64_t ldc) {
  __shared__ float as[BK][BM + 1];
  __shared__ float bs[BK][BN + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;
  float acc[TM][TN] = {};

  for (int p0 = 0; p0 < k; p0 += BK) {
    for (int idx = threadIdx.x; idx < BM * BK; idx += THREADS) {
      // Consecutive threads walk the contiguous direction of A as stored.
      int i = TA ? idx % BM : idx / BK;
      int p = TA ? idx / BM : idx % BK;
      int gi = row0 + i, gp = p0 + p;
      float v = 0.0f;
      if (gi < m && gp < k) v = TA ? a[int64_t(gp) * lda + gi] : a[int64_t(gi) * lda + gp];
      as[p][i] = v;
    }
    for (int idx = threadIdx.x; idx < BK * BN; idx += THREADS) {
      int j = TB ? idx / BK : idx % BN;
      int p = TB ? idx % BK : idx / BN;
      int gp = p0 + p, gj = col0 + j;
      float v = 0.0f;
      if (gp < k && gj < n) v = TB ? b[int64_t(gj) * ldb + gp] : b[int64_t(gp) * ldb + gj];
      bs[p][j] = v;
    }
    __syncthreads();
#pragma unroll
    for (int p = 0; p < BK; ++p) {
      float av[TM], bv[TN];
#pragma unroll
      for (int r = 0; r < TM; ++r) av[r] = as[p][ty + 16 * r];
#pragma unroll
      for (int s = 0; s < TN; ++s) bv[s] = bs[p][tx + 16 * s];
#pragma unroll
      for (int r = 0; r < TM; ++r)
#pragma unroll
        for (int s = 0; s < TN; ++s) acc[r][s] += av[r] * bv[s];
    }
    __syncthreads();
  }

#pragma unroll
  for (int r = 0; r < TM; ++r) {
    int i = row0 + ty + 16 * r;
    if (i >= m) continue;
#pragma unroll
    for (int s = 0; s < TN; ++s) {
      int j = col0 + tx + 16 * s;
      if (j >= n) continue;
      float* out = c + int64_t(i) * ldc + j;
      *out = beta == 0.0f ? alpha * acc[r][s] : alpha * acc[r][s] + beta * *out;
    }
  }
}

}  // namespace

void gemm_tiled(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc, cudaStream_t stream) {
  if (m == 0 || n == 0) return;
  dim3 grid(unsigned((n + BN - 1) / BN), unsigned((m + BM - 1) / BM));
  auto launch = [&](auto kernel) {
    kernel<<<grid, THREADS, 0, stream>>>(int(m), int(n), int(k), alpha, a, lda, b, ldb, beta, c, ldc);
  };
  if (trans_a) {
    trans_b ? launch(sgemm_tiled_kernel<true, true>) : launch(sgemm_tiled_kernel<true, false>);
  } else {
    trans_b ? launch(sgemm_tiled_kernel<false, true>) : launch(sgemm_tiled_kernel<false, false>);
  }
  TF_CUDA_CHECK_LAUNCH();
}

}  // namespace tf::cuda
