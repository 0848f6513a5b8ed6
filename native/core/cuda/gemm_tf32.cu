// TF32 tensor-core SGEMM with WMMA (16 x 16 x 8 fragments, float32 accumulation), the
// optional fast path of the backend's GEMM (kernels.cuh: set_gemm_tf32, TF_CUDA_TF32=1)
// when cuBLAS is absent. 64 x 64 output tiles, four warps each owning a 32 x 32 quarter
// as 2 x 2 fragments; 32-deep slices of A and B staged in shared memory (zero-padded at
// the edges, transposes folded into the loads), rounded to TF32 as they enter the
// fragments; the result goes through shared memory so that alpha, beta and the edges
// are handled per element. Tensor cores with TF32 need sm_80 or newer.
#include <mma.h>

#include "kernels.cuh"
#include "launch.cuh"

namespace tf::cuda {

namespace {

constexpr int BM = 64, BN = 64, BK = 32, THREADS = 128;
constexpr int LDA = BK + 4, LDB = BN + 4, LDC = BN + 4;  // multiples of 4 floats, as WMMA needs

template <bool TA, bool TB>
__global__ void __launch_bounds__(THREADS) sgemm_tf32_kernel(int m, int n, int k, float alpha,
                                                             const float* __restrict__ a, int64_t lda,
                                                             const float* __restrict__ b, int64_t ldb, float beta,
                                                             float* __restrict__ c, int64_t ldc) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  using namespace nvcuda;
  __shared__ __align__(32) float as[BM * LDA];
  __shared__ __align__(32) float bs[BK * LDB];
  __shared__ __align__(32) float cs[BM * LDC];
  const int warp = threadIdx.x / 32, wm = warp / 2, wn = warp % 2;
  const int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;

  wmma::fragment<wmma::accumulator, 16, 16, 8, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  for (int p0 = 0; p0 < k; p0 += BK) {
    for (int idx = threadIdx.x; idx < BM * BK; idx += THREADS) {
      const int i = TA ? idx % BM : idx / BK;
      const int p = TA ? idx / BM : idx % BK;
      const int gi = row0 + i, gp = p0 + p;
      as[i * LDA + p] = gi < m && gp < k ? (TA ? a[int64_t(gp) * lda + gi] : a[int64_t(gi) * lda + gp]) : 0.0f;
    }
    for (int idx = threadIdx.x; idx < BK * BN; idx += THREADS) {
      const int j = TB ? idx / BK : idx % BN;
      const int p = TB ? idx % BK : idx / BN;
      const int gp = p0 + p, gj = col0 + j;
      bs[p * LDB + j] = gp < k && gj < n ? (TB ? b[int64_t(gj) * ldb + gp] : b[int64_t(gp) * ldb + gj]) : 0.0f;
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; kk += 8) {
      wmma::fragment<wmma::matrix_a, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, 8, wmma::precision::tf32, wmma::row_major> fb[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        wmma::load_matrix_sync(fa[i], as + (wm * 32 + i * 16) * LDA + kk, LDA);
#pragma unroll
        for (int t = 0; t < fa[i].num_elements; ++t) fa[i].x[t] = wmma::__float_to_tf32(fa[i].x[t]);
      }
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        wmma::load_matrix_sync(fb[j], bs + kk * LDB + wn * 32 + j * 16, LDB);
#pragma unroll
        for (int t = 0; t < fb[j].num_elements; ++t) fb[j].x[t] = wmma::__float_to_tf32(fb[j].x[t]);
      }
#pragma unroll
      for (int i = 0; i < 2; ++i)
#pragma unroll
        for (int j = 0; j < 2; ++j) wmma::mma_sync(acc[i][j], fa[i], fb[j], acc[i][j]);
    }
    __syncthreads();
  }

#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j)
      wmma::store_matrix_sync(cs + (wm * 32 + i * 16) * LDC + wn * 32 + j * 16, acc[i][j], LDC, wmma::mem_row_major);
  __syncthreads();
  for (int idx = threadIdx.x; idx < BM * BN; idx += THREADS) {
    const int i = idx / BN, j = idx % BN, gi = row0 + i, gj = col0 + j;
    if (gi >= m || gj >= n) continue;
    float* out = c + int64_t(gi) * ldc + gj;
    const float v = cs[i * LDC + j];
    *out = beta == 0.0f ? alpha * v : alpha * v + beta * *out;
  }
#endif
}

}  // namespace

bool tf32_supported() {
  static const bool ok = [] {
    int dev = 0, major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess)
      return false;
    // The kernel must also have been compiled for sm_80 or newer (its body is empty below).
    cudaFuncAttributes attr{};
    if (cudaFuncGetAttributes(&attr, sgemm_tf32_kernel<false, false>) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return major >= 8 && attr.binaryVersion >= 80;
  }();
  return ok;
}

void gemm_tf32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
               int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc, cudaStream_t stream) {
  if (m == 0 || n == 0) return;
  TF_CHECK(tf32_supported(), "gemm_tf32: TF32 tensor cores need a GPU of compute capability 8.0 or newer");
  dim3 grid(unsigned((n + BN - 1) / BN), unsigned((m + BM - 1) / BM));
  auto go = [&](auto kernel) {
    kernel<<<grid, THREADS, 0, stream>>>(int(m), int(n), int(k), alpha, a, lda, b, ldb, beta, c, ldc);
  };
  if (trans_a)
    trans_b ? go(sgemm_tf32_kernel<true, true>) : go(sgemm_tf32_kernel<true, false>);
  else
    trans_b ? go(sgemm_tf32_kernel<false, true>) : go(sgemm_tf32_kernel<false, false>);
  TF_CUDA_CHECK_LAUNCH();
}

}  // namespace tf::cuda
