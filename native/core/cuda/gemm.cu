// Our own SGEMM for when cuBLAS is absent (or TF_CUDA_GEMM=tiled), and the GEMM dispatch
// of the CUDA backend. Row-major, transposes folded into the tile loads.
//
// Two tilings: 128 x 128 output tiles with 8 x 8 outputs per thread in registers (the
// big products of the encoder: batch x tokens rows), and 64 x 64 tiles with 4 x 4 per
// thread for products too small to fill a GPU with 128 x 128 tiles (the classifier, CLS
// rows, small matrices). Both stage 8- or 16-deep slices of A and B in shared memory and
// load the next slice into registers while multiplying the current one.
#include <cstdlib>
#include <cstring>

#include "../backend.h"
#include "cublas_loader.h"
#include "kernels.cuh"
#include "launch.cuh"

namespace tf::cuda {

namespace {

// ---- shared by both tilings ----------------------------------------------------------------
// Thread (tx, ty) of a 16 x 16 grid owns outputs (ty + 16 r, tx + 16 s) of the tile, so
// the shared-memory reads of a slice are conflict-free in both directions.

// acc += one BK-deep slice of the tile product, from shared memory.
template <int BK, int TM, int TN, int LDA, int LDB>
__device__ __forceinline__ void multiply_slice(const float (&as)[BK][LDA], const float (&bs)[BK][LDB],
                                               float (&acc)[TM][TN], int tx, int ty) {
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
}

// c = alpha * acc + beta * c for this thread's outputs inside the m x n matrix.
template <int TM, int TN>
__device__ __forceinline__ void store_tile(const float (&acc)[TM][TN], int row0, int col0, int tx, int ty, int m,
                                           int n, float alpha, float beta, float* __restrict__ c, int64_t ldc) {
#pragma unroll
  for (int r = 0; r < TM; ++r) {
    const int i = row0 + ty + 16 * r;
    if (i >= m) continue;
#pragma unroll
    for (int s = 0; s < TN; ++s) {
      const int j = col0 + tx + 16 * s;
      if (j >= n) continue;
      float* out = c + int64_t(i) * ldc + j;
      *out = beta == 0.0f ? alpha * acc[r][s] : alpha * acc[r][s] + beta * *out;
    }
  }
}

// ---- 64 x 64 tiles, 4 x 4 per thread -----------------------------------------------------
namespace small {
constexpr int BM = 64, BN = 64, BK = 16, THREADS = 256, TM = 4, TN = 4;

template <bool TA, bool TB>
__global__ void __launch_bounds__(THREADS) sgemm_kernel(int m, int n, int k, float alpha, const float* __restrict__ a,
                                                        int64_t lda, const float* __restrict__ b, int64_t ldb,
                                                        float beta, float* __restrict__ c, int64_t ldc) {
  __shared__ float as[BK][BM + 1];
  __shared__ float bs[BK][BN + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;
  float acc[TM][TN] = {};

  for (int p0 = 0; p0 < k; p0 += BK) {
    for (int idx = threadIdx.x; idx < BM * BK; idx += THREADS) {
      // Consecutive threads walk the contiguous direction of A as stored.
      const int i = TA ? idx % BM : idx / BK;
      const int p = TA ? idx / BM : idx % BK;
      const int gi = row0 + i, gp = p0 + p;
      float v = 0.0f;
      if (gi < m && gp < k) v = TA ? a[int64_t(gp) * lda + gi] : a[int64_t(gi) * lda + gp];
      as[p][i] = v;
    }
    for (int idx = threadIdx.x; idx < BK * BN; idx += THREADS) {
      const int j = TB ? idx / BK : idx % BN;
      const int p = TB ? idx % BK : idx / BN;
      const int gp = p0 + p, gj = col0 + j;
      float v = 0.0f;
      if (gp < k && gj < n) v = TB ? b[int64_t(gj) * ldb + gp] : b[int64_t(gp) * ldb + gj];
      bs[p][j] = v;
    }
    __syncthreads();
    multiply_slice(as, bs, acc, tx, ty);
    __syncthreads();
  }

  store_tile(acc, row0, col0, tx, ty, m, n, alpha, beta, c, ldc);
}
}  // namespace small

// ---- 128 x 128 tiles, 8 x 8 per thread, register prefetch -------------------------------
namespace large {
constexpr int BM = 128, BN = 128, BK = 8, THREADS = 256, TM = 8, TN = 8;
constexpr int LOADS = BM * BK / THREADS;  // 4 elements of A and 4 of B per thread per slice

// Element e of this thread's share of an A slice: its (row, depth) in the tile. Threads
// with consecutive ids walk the direction A is contiguous in.
template <bool TA>
__device__ __forceinline__ void a_coord(int e, int& i, int& p) {
  const int idx = threadIdx.x + e * THREADS;
  i = TA ? idx % BM : idx / BK;
  p = TA ? idx / BM : idx % BK;
}
template <bool TB>
__device__ __forceinline__ void b_coord(int e, int& j, int& p) {
  const int idx = threadIdx.x + e * THREADS;
  j = TB ? idx / BK : idx % BN;
  p = TB ? idx % BK : idx / BN;
}

template <bool TA, bool TB>
__device__ __forceinline__ void load_slice(float (&ra)[LOADS], float (&rb)[LOADS], int p0, int m, int n, int k,
                                           int row0, int col0, const float* __restrict__ a, int64_t lda,
                                           const float* __restrict__ b, int64_t ldb) {
#pragma unroll
  for (int e = 0; e < LOADS; ++e) {
    int i, p;
    a_coord<TA>(e, i, p);
    const int gi = row0 + i, gp = p0 + p;
    ra[e] = gi < m && gp < k ? (TA ? a[int64_t(gp) * lda + gi] : a[int64_t(gi) * lda + gp]) : 0.0f;
    int j, q;
    b_coord<TB>(e, j, q);
    const int gj = col0 + j, gq = p0 + q;
    rb[e] = gq < k && gj < n ? (TB ? b[int64_t(gj) * ldb + gq] : b[int64_t(gq) * ldb + gj]) : 0.0f;
  }
}

template <bool TA, bool TB>
__global__ void __launch_bounds__(THREADS, 2) sgemm_kernel(int m, int n, int k, float alpha, const float* __restrict__ a,
                                                        int64_t lda, const float* __restrict__ b, int64_t ldb,
                                                        float beta, float* __restrict__ c, int64_t ldc) {
  __shared__ float as[BK][BM + 4];
  __shared__ float bs[BK][BN + 4];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int row0 = blockIdx.y * BM, col0 = blockIdx.x * BN;
  float acc[TM][TN] = {};
  float ra[LOADS], rb[LOADS];
  load_slice<TA, TB>(ra, rb, 0, m, n, k, row0, col0, a, lda, b, ldb);

  for (int p0 = 0; p0 < k; p0 += BK) {
#pragma unroll
    for (int e = 0; e < LOADS; ++e) {
      int i, p;
      a_coord<TA>(e, i, p);
      as[p][i] = ra[e];
      int j, q;
      b_coord<TB>(e, j, q);
      bs[q][j] = rb[e];
    }
    __syncthreads();
    if (p0 + BK < k) load_slice<TA, TB>(ra, rb, p0 + BK, m, n, k, row0, col0, a, lda, b, ldb);
    multiply_slice(as, bs, acc, tx, ty);
    __syncthreads();
  }

  store_tile(acc, row0, col0, tx, ty, m, n, alpha, beta, c, ldc);
}
}  // namespace large

using SgemmKernel = void (*)(int, int, int, float, const float*, int64_t, const float*, int64_t, float, float*, int64_t);

// A 128 x 128 grid must still give the GPU a few waves of blocks; below that the small
// tiles spread the same work over four times as many blocks.
bool use_large_tiles(int64_t m, int64_t n) {
  return m >= 256 && n >= 128 && ((m + 127) / 128) * ((n + 127) / 128) >= 64;
}

GemmPath path_from_env() {
  const char* env = std::getenv("TF_CUDA_GEMM");
  if (env && std::strcmp(env, "tiled") == 0) return GemmPath::Tiled;
  if (env && std::strcmp(env, "cublas") == 0) return GemmPath::Cublas;
  return GemmPath::Auto;
}

GemmPrecision precision_from_env() {
  const char* env = std::getenv("TF_CUDA_GEMM_PRECISION");
  if (env && std::strcmp(env, "tf32") == 0) return GemmPrecision::Tf32;
  if (env && std::strcmp(env, "bf16") == 0) return GemmPrecision::Bf16;
  if (env && *env && std::strcmp(env, "fp32") != 0)
    throw Error(std::string("TF_CUDA_GEMM_PRECISION must be fp32, tf32 or bf16, got '") + env + "'");
  const char* tf32 = std::getenv("TF_CUDA_TF32");
  const bool on = tf32 && (std::strcmp(tf32, "1") == 0 || std::strcmp(tf32, "on") == 0 || std::strcmp(tf32, "true") == 0);
  return on ? GemmPrecision::Tf32 : GemmPrecision::Fp32;
}

GemmPath& selected_path() {
  static GemmPath p = path_from_env();
  return p;
}

GemmPrecision& selected_precision() {
  static GemmPrecision p = precision_from_env();
  return p;
}

}  // namespace

void gemm_tiled(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc, cudaStream_t stream) {
  if (m == 0 || n == 0) return;
  // Each tiling's four <trans_a, trans_b> instances, indexed [trans_a][trans_b].
  static const SgemmKernel large_kernels[2][2] = {
      {large::sgemm_kernel<false, false>, large::sgemm_kernel<false, true>},
      {large::sgemm_kernel<true, false>, large::sgemm_kernel<true, true>}};
  static const SgemmKernel small_kernels[2][2] = {
      {small::sgemm_kernel<false, false>, small::sgemm_kernel<false, true>},
      {small::sgemm_kernel<true, false>, small::sgemm_kernel<true, true>}};
  const bool large_tiles = use_large_tiles(m, n);
  const int bm = large_tiles ? large::BM : small::BM, bn = large_tiles ? large::BN : small::BN;
  const int threads = large_tiles ? large::THREADS : small::THREADS;
  const SgemmKernel kernel = (large_tiles ? large_kernels : small_kernels)[trans_a][trans_b];
  dim3 grid(unsigned((n + bn - 1) / bn), unsigned((m + bm - 1) / bm));
  kernel<<<grid, threads, 0, stream>>>(int(m), int(n), int(k), alpha, a, lda, b, ldb, beta, c, ldc);
  TF_CUDA_CHECK_LAUNCH();
}

void set_gemm_path(GemmPath path) { selected_path() = path; }
GemmPath gemm_path() { return selected_path(); }
void set_gemm_precision(GemmPrecision precision) { selected_precision() = precision; }
GemmPrecision gemm_precision() { return selected_precision(); }
const char* gemm_precision_name(GemmPrecision precision) {
  switch (precision) {
    case GemmPrecision::Tf32: return "tf32";
    case GemmPrecision::Bf16: return "bf16";
    default: return "fp32";
  }
}

std::string gemm_description() {
  Cublas* blas = gemm_path() == GemmPath::Tiled ? nullptr : Cublas::instance();
  std::string s = blas ? "cuBLAS (" + blas->library() + ")" : "tiled kernels";
  const GemmPrecision p = gemm_precision();
  const std::string name = p == GemmPrecision::Tf32 ? "TF32" : "BF16";
  if (p != GemmPrecision::Fp32)
    s += tensor_cores_supported() || blas ? ", " + name + " tensor cores" : ", " + name + " requested (needs sm_80)";
  return s;
}

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc, cudaStream_t stream) {
  // k == 0 is C = beta C: A and B are never read, so their strides are not checked (the
  // CPU twin accepts lda = ldb = 0 there, as the backend tests pass them) and cuBLAS,
  // which rejects lda < 1, is not asked; the tiled kernel scales C.
  if (k == 0) {
    check_gemm_args(trans_a, trans_b, m, n, 0, INT64_MAX, INT64_MAX, ldc);
    gemm_tiled(trans_a, trans_b, m, n, 0, alpha, a, 1, b, 1, beta, c, ldc, stream);
    return;
  }
  check_gemm_args(trans_a, trans_b, m, n, k, lda, ldb, ldc);
  if (m == 0 || n == 0) return;
  const GemmPrecision precision = gemm_precision();
  if (gemm_path() != GemmPath::Tiled) {
    if (Cublas* blas = Cublas::instance()) {
      if (blas->sgemm(trans_a, trans_b, int(m), int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc),
                      stream, precision))
        return;
    }
    TF_CHECK(gemm_path() != GemmPath::Cublas, "gemm: TF_CUDA_GEMM=cublas but cuBLAS could not be loaded or failed");
  }
  if (precision != GemmPrecision::Fp32 && k > 0 && tensor_cores_supported()) {
    gemm_tensor_cores(precision, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, stream);
    return;
  }
  gemm_tiled(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, stream);
}

}  // namespace tf::cuda
