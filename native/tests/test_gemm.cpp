// GEMM on the selected backend (and, on the CPU, each of its paths) against a float64
// reference, over shapes that exercise every edge of the blocking, all four transpose
// combinations, padded leading dimensions, alpha/beta, and beta == 0 with NaN in C.
#include <cmath>
#include <limits>

#include "../core/cpu/blas_threads.h"
#include "../core/cpu/kernels.h"
#include "../core/thread_pool.h"
#include "check.h"
#include "test_device.h"

namespace tf::test {
namespace {

struct GemmCase {
  bool ta, tb;
  int64_t m, n, k;
  float alpha, beta;
  int64_t pad;  // extra columns in every stored matrix
};

void check_gemm_case(Backend& be, const GemmCase& g, uint32_t seed) {
  int64_t a_rows = g.ta ? g.k : g.m, a_cols = g.ta ? g.m : g.k;
  int64_t b_rows = g.tb ? g.n : g.k, b_cols = g.tb ? g.k : g.n;
  int64_t lda = a_cols + g.pad, ldb = b_cols + g.pad, ldc = g.n + g.pad;
  auto a = random_vector(size_t(a_rows * lda), seed);
  auto b = random_vector(size_t(b_rows * ldb), seed + 1);
  auto c = random_vector(size_t(g.m * ldc), seed + 2);
  if (g.beta == 0.0f)  // BLAS semantics: C must not be read, so NaN must not leak through
    for (auto& x : c) x = std::numeric_limits<float>::quiet_NaN();

  std::vector<double> ref(size_t(g.m * g.n));
  double max_abs_term = 0;
  for (int64_t i = 0; i < g.m; ++i)
    for (int64_t j = 0; j < g.n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < g.k; ++p) {
        double av = g.ta ? a[p * lda + i] : a[i * lda + p];
        double bv = g.tb ? b[j * ldb + p] : b[p * ldb + j];
        s += av * bv;
      }
      double prev = g.beta == 0.0f ? 0.0 : double(c[i * ldc + j]);
      ref[i * g.n + j] = double(g.alpha) * s + double(g.beta) * prev;
      max_abs_term = std::max(max_abs_term, std::fabs(ref[i * g.n + j]));
    }

  auto da = to_device(be, a), db = to_device(be, b), dc = to_device(be, c);
  be.gemm(g.ta, g.tb, g.m, g.n, g.k, g.alpha, da.get<float>(), lda, db.get<float>(), ldb, g.beta, dc.get<float>(),
          ldc);
  auto out = to_host(dc);
  // float32 accumulation of k products of terms in [-1, 1]: error grows like sqrt(k) eps.
  double tol = 1e-5 * (1.0 + std::sqrt(double(g.k))) * (1.0 + std::fabs(g.alpha)) + 1e-6 * max_abs_term;
  double worst = 0;
  for (int64_t i = 0; i < g.m; ++i)
    for (int64_t j = 0; j < g.n; ++j) worst = std::max(worst, std::fabs(out[i * ldc + j] - ref[i * g.n + j]));
  if (!(worst <= tol)) {
    char what[200];
    std::snprintf(what, sizeof what, "gemm ta=%d tb=%d m=%lld n=%lld k=%lld: max error %.3g > %.3g", g.ta, g.tb,
                  (long long)g.m, (long long)g.n, (long long)g.k, worst, tol);
    record_failure(__FILE__, __LINE__, what);
  }
  // Padding columns of C are outside the matrix and must be left alone.
  for (int64_t i = 0; i < g.m; ++i)
    for (int64_t j = g.n; j < ldc; ++j) {
      float before = c[i * ldc + j], after = out[i * ldc + j];
      bool same = (std::isnan(before) && std::isnan(after)) || before == after;
      if (!same) {
        record_failure(__FILE__, __LINE__, "gemm wrote into the padding of C");
        return;
      }
    }
}

void run_gemm_suite(Backend& be) {
  const int64_t sizes[] = {1, 3, 16, 17, 97, 300};
  uint32_t seed = 1;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (int64_t m : sizes)
        for (int64_t n : {int64_t(1), int64_t(33), int64_t(130)})
          for (int64_t k : {int64_t(1), int64_t(7), int64_t(257), int64_t(600)})
            check_gemm_case(be, {ta, tb, m, n, k, 1.0f, 0.0f, 0}, seed++);
  // alpha, beta and padded strides.
  check_gemm_case(be, {false, false, 65, 70, 75, 0.5f, 2.0f, 3}, 900);
  check_gemm_case(be, {true, true, 65, 70, 75, -1.5f, 0.25f, 5}, 901);
  check_gemm_case(be, {false, true, 200, 31, 513, 1.0f, 1.0f, 1}, 902);
  // k == 0: C = beta * C.
  check_gemm_case(be, {false, false, 4, 5, 0, 1.0f, 3.0f, 0}, 903);
  check_gemm_case(be, {false, false, 4, 5, 0, 1.0f, 0.0f, 0}, 904);
  // A larger square product crossing several cache blocks in every dimension.
  check_gemm_case(be, {false, false, 513, 2100, 300, 1.0f, 0.0f, 0}, 905);
}

TEST("gemm: selected backend against float64") { run_gemm_suite(device_backend()); }

TEST("gemm: cpu portable blocked kernel against float64") {
  if (selected_device() != "cpu") return;
  cpu::set_gemm_path(cpu::GemmPath::Blocked);
  run_gemm_suite(cpu_backend());
  cpu::set_gemm_path(cpu::GemmPath::Auto);
}

TEST("gemm: cpu blocked kernel inside a parallel region (single-threaded path)") {
  if (selected_device() != "cpu") return;
  // Each of several concurrent chunks runs its own GEMM; results must match the serial ones.
  const int64_t m = 37, n = 41, k = 53;
  auto a = random_vector(size_t(m * k), 7), b = random_vector(size_t(k * n), 8);
  std::vector<float> serial(size_t(m * n));
  cpu::gemm(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, serial.data(), n);
  std::vector<std::vector<float>> outs(8, std::vector<float>(size_t(m * n)));
  parallel_for(8, 1, [&](int64_t begin, int64_t end) {
    for (int64_t t = begin; t < end; ++t)
      cpu::gemm(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, outs[t].data(), n);
  });
  for (auto& o : outs)
    for (size_t i = 0; i < o.size(); ++i) CHECK_NEAR(o[i], serial[i], 1e-4);
}

TEST("gemm: argument checks") {
  CHECK_THROWS(check_gemm_args(false, false, -1, 2, 2, 2, 2, 2));
  CHECK_THROWS(check_gemm_args(false, false, 2, 2, 3, 2, 2, 2));  // lda < k
  CHECK_THROWS(check_gemm_args(true, false, 4, 2, 3, 3, 2, 2));   // lda < m when transposed
  CHECK_THROWS(check_gemm_args(false, false, 2, 5, 3, 3, 4, 5));  // ldb < n
  CHECK_THROWS(check_gemm_args(false, false, 2, 5, 3, 3, 5, 4));  // ldc < n
  check_gemm_args(false, false, 2, 5, 3, 3, 5, 5);
  check_gemm_args(false, false, 0, 0, 0, 1, 1, 1);
}

}  // namespace
}  // namespace tf::test
