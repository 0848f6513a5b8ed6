// CPU GEMM dispatch: CBLAS when it was found at build time, the portable blocked kernel
// otherwise. Inside a parallel region of our pool the blocked kernel runs single-
// threaded instead of BLAS, so the two never compete for the same cores.
#include <atomic>
#include <cstdlib>
#include <cstring>

#include "../thread_pool.h"
#include "blas_threads.h"
#include "kernels.h"

#ifdef TF_HAVE_CBLAS
#include <cblas.h>
#endif

namespace tf::cpu {

namespace {
// TF_GEMM=blocked or TF_GEMM=blas forces a path for the whole process (benchmarks,
// debugging a BLAS); anything else keeps the automatic choice.
GemmPath path_from_env() {
  const char* env = std::getenv("TF_GEMM");
  if (env && std::strcmp(env, "blocked") == 0) return GemmPath::Blocked;
  if (env && std::strcmp(env, "blas") == 0) return GemmPath::Blas;
  return GemmPath::Auto;
}
std::atomic<GemmPath> selected_path{path_from_env()};
}  // namespace

void set_gemm_path(GemmPath path) { selected_path.store(path); }
GemmPath gemm_path() { return selected_path.load(); }

void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
          const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
#ifdef TF_HAVE_CBLAS
  GemmPath path = gemm_path();
  bool use_blas = path == GemmPath::Blas || (path == GemmPath::Auto && !ThreadPool::in_parallel_region());
  if (use_blas && m > 0 && n > 0 && k > 0) {
    pool()->park();  // gives OpenBLAS our thread count (first use) and our idle workers' cores
    cblas_sgemm(CblasRowMajor, trans_a ? CblasTrans : CblasNoTrans, trans_b ? CblasTrans : CblasNoTrans, int(m),
                int(n), int(k), alpha, a, int(lda), b, int(ldb), beta, c, int(ldc));
    return;
  }
#endif
  gemm_blocked(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

}  // namespace tf::cpu
