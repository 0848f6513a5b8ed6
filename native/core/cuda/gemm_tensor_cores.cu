// Tensor-core SGEMM with WMMA, float32 in, float32 out, float32 accumulation: the
// optional fast paths of the backend's GEMM when cuBLAS is absent (kernels.cuh:
// set_gemm_precision, TF_CUDA_GEMM_PRECISION). Inputs are rounded as they enter the
// tensor cores: to TF32 (10 mantissa bits, 16 x 16 x 8 fragments) or to BF16 (7 bits,
// 16 x 16 x 16 fragments). 64 x 64 output tiles, four warps each owning a 32 x 32
// quarter as 2 x 2 fragments; 32-deep slices of A and B staged in shared memory
// (zero-padded at the edges, transposes folded into the loads, BF16 converted there);
// the result goes through shared memory so that alpha, beta and the edges are handled
// per element. Both need sm_80 or newer.
#include <cuda_bf16.h>
#include <mma.h>

#include "kernels.cuh"
#include "launch.cuh"

namespace tf::cuda {

namespace {

constexpr int BM = 64, BN = 64, THREADS = 128;

// The two precisions, as template arguments. Only device code for sm_80 and newer uses
// what is inside them (the kernels' bodies are empty elsewhere).
struct Tf32;
struct Bf16;

#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
constexpr int BK = 32;

// What differs between them: the shared-memory element, the fragments' element type and
// depth, the row padding WMMA needs (16 bytes of 16-bit elements, 4 floats), and where
// the rounding happens (TF32 when a fragment is loaded, BF16 already when staged).
struct Tf32 {
  using Elem = float;
  using Frag = nvcuda::wmma::precision::tf32;
  static constexpr int K = 8, PAD = 4;
  __device__ static Elem stage(float x) { return x; }
  template <typename F>
  __device__ static void round(F& f) {
#pragma unroll
    for (int t = 0; t < f.num_elements; ++t) f.x[t] = nvcuda::wmma::__float_to_tf32(f.x[t]);
  }
};
struct Bf16 {
  using Elem = __nv_bfloat16;
  using Frag = __nv_bfloat16;
  static constexpr int K = 16, PAD = 8;
  __device__ static Elem stage(float x) { return __float2bfloat16_rn(x); }
  template <typename F>
  __device__ static void round(F&) {}
};
#endif

template <typename P, bool TA, bool TB>
__global__ void __launch_bounds__(THREADS) sgemm_tc_kernel(int m, int n, int k, float alpha,
                                                           const float* __restrict__ a, int64_t lda,
                                                           const float* __restrict__ b, int64_t ldb, float beta,
                                                           float* __restrict__ c, int64_t ldc) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  using namespace nvcuda;
  using E = typename P::Elem;
  constexpr int LDA = BK + P::PAD, LDB = BN + P::PAD, LDC = BN + 4;
  __shared__ __align__(32) E as[BM * LDA];
  __shared__ __align__(32) E bs[BK * LDB];
  __shared__ __align__(32) float cs[BM * LDC];
  const int warp = threadIdx.x / 32, wm = warp / 2, wn = warp % 2;
  const int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;

  wmma::fragment<wmma::accumulator, 16, 16, P::K, float> acc[2][2];
#pragma unroll
  for (int i = 0; i < 2; ++i)
#pragma unroll
    for (int j = 0; j < 2; ++j) wmma::fill_fragment(acc[i][j], 0.0f);

  for (int p0 = 0; p0 < k; p0 += BK) {
    for (int idx = threadIdx.x; idx < BM * BK; idx += THREADS) {
      const int i = TA ? idx % BM : idx / BK;
      const int p = TA ? idx / BM : idx % BK;
      const int gi = row0 + i, gp = p0 + p;
      as[i * LDA + p] =
          P::stage(gi < m && gp < k ? (TA ? a[int64_t(gp) * lda + gi] : a[int64_t(gi) * lda + gp]) : 0.0f);
    }
    for (int idx = threadIdx.x; idx < BK * BN; idx += THREADS) {
      const int j = TB ? idx / BK : idx % BN;
      const int p = TB ? idx % BK : idx / BN;
      const int gp = p0 + p, gj = col0 + j;
      bs[p * LDB + j] =
          P::stage(gp < k && gj < n ? (TB ? b[int64_t(gj) * ldb + gp] : b[int64_t(gp) * ldb + gj]) : 0.0f);
    }
    __syncthreads();
#pragma unroll
    for (int kk = 0; kk < BK; kk += P::K) {
      wmma::fragment<wmma::matrix_a, 16, 16, P::K, typename P::Frag, wmma::row_major> fa[2];
      wmma::fragment<wmma::matrix_b, 16, 16, P::K, typename P::Frag, wmma::row_major> fb[2];
#pragma unroll
      for (int i = 0; i < 2; ++i) {
        wmma::load_matrix_sync(fa[i], as + (wm * 32 + i * 16) * LDA + kk, LDA);
        P::round(fa[i]);
      }
#pragma unroll
      for (int j = 0; j < 2; ++j) {
        wmma::load_matrix_sync(fb[j], bs + kk * LDB + wn * 32 + j * 16, LDB);
        P::round(fb[j]);
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

template <typename P>
void launch(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
            const float* b, int64_t ldb, float beta, float* c, int64_t ldc, cudaStream_t stream) {
  dim3 grid(unsigned((n + BN - 1) / BN), unsigned((m + BM - 1) / BM));
  auto go = [&](auto kernel) {
    kernel<<<grid, THREADS, 0, stream>>>(int(m), int(n), int(k), alpha, a, lda, b, ldb, beta, c, ldc);
  };
  if (trans_a)
    trans_b ? go(sgemm_tc_kernel<P, true, true>) : go(sgemm_tc_kernel<P, true, false>);
  else
    trans_b ? go(sgemm_tc_kernel<P, false, true>) : go(sgemm_tc_kernel<P, false, false>);
  TF_CUDA_CHECK_LAUNCH();
}

}  // namespace

bool tensor_cores_supported() {
  static const bool ok = [] {
    int dev = 0, major = 0;
    if (cudaGetDevice(&dev) != cudaSuccess ||
        cudaDeviceGetAttribute(&major, cudaDevAttrComputeCapabilityMajor, dev) != cudaSuccess)
      return false;
    // The kernels must also have been compiled for sm_80 or newer (their bodies are empty below).
    cudaFuncAttributes attr{};
    if (cudaFuncGetAttributes(&attr, sgemm_tc_kernel<Tf32, false, false>) != cudaSuccess) {
      cudaGetLastError();
      return false;
    }
    return major >= 8 && attr.binaryVersion >= 80;
  }();
  return ok;
}

void gemm_tensor_cores(GemmPrecision precision, bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k,
                       float alpha, const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                       int64_t ldc, cudaStream_t stream) {
  TF_CHECK(precision != GemmPrecision::Fp32, "gemm_tensor_cores: choose tf32 or bf16");
  if (m == 0 || n == 0) return;
  TF_CHECK(tensor_cores_supported(),
           "gemm_tensor_cores: TF32 and BF16 tensor cores need a GPU of compute capability 8.0 or newer");
  if (precision == GemmPrecision::Tf32)
    launch<Tf32>(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, stream);
  else
    launch<Bf16>(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, stream);
}

}  // namespace tf::cuda
