#include "symmetric_eigen.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "../error.h"
#include "../thread_pool.h"

#ifdef TF_HAVE_OPENBLAS
// OpenBLAS carries LAPACK (Fortran calling convention; the trailing lengths are those of
// the two character arguments).
extern "C" void dsyevd_(const char* jobz, const char* uplo, const int* n, double* a, const int* lda, double* w,
                        double* work, const int* lwork, int* iwork, const int* liwork, int* info, size_t jobz_len,
                        size_t uplo_len);
#endif

namespace tf::cpu {

namespace {

// Sorts (w, rows of v) by ascending eigenvalue.
void sort_ascending(int64_t n, double* w, double* v) {
  std::vector<int64_t> order(static_cast<size_t>(n));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t x, int64_t y) { return w[x] < w[y]; });
  std::vector<double> ws(w, w + n), vs(v, v + n * n);
  for (int64_t i = 0; i < n; ++i) {
    w[i] = ws[size_t(order[size_t(i)])];
    std::copy_n(vs.data() + order[size_t(i)] * n, n, v + i * n);
  }
}

}  // namespace

void symmetric_eigen_jacobi(const double* a_in, int64_t n, double* w, double* v) {
  // m holds the matrix being diagonalised; e accumulates the rotations, e = V^T (its rows
  // become the eigenvectors).
  std::vector<double> m(a_in, a_in + n * n), e(static_cast<size_t>(n * n), 0.0);
  for (int64_t i = 0; i < n; ++i) e[size_t(i * n + i)] = 1.0;
  auto at = [&](int64_t r, int64_t c) -> double& { return m[size_t(r * n + c)]; };
  double total = 0;
  for (double x : m) total += x * x;
  for (int sweep = 0; sweep < 100; ++sweep) {
    double off = 0;
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) off += at(p, q) * at(p, q);
    if (!(off > 1e-30 * total)) break;  // converged (or NaN: stop)
    for (int64_t p = 0; p < n; ++p)
      for (int64_t q = p + 1; q < n; ++q) {
        const double apq = at(p, q);
        if (apq == 0.0) continue;
        // The rotation in the (p, q) plane that zeroes m[p][q]: t = tan(theta), the smaller
        // root of t^2 + 2 tau t - 1 = 0, for stability.
        const double tau = (at(q, q) - at(p, p)) / (2.0 * apq);
        const double t = (tau >= 0 ? 1.0 : -1.0) / (std::fabs(tau) + std::sqrt(1.0 + tau * tau));
        const double c = 1.0 / std::sqrt(1.0 + t * t), s = t * c;
        for (int64_t k = 0; k < n; ++k) {  // columns p and q
          const double mkp = at(k, p), mkq = at(k, q);
          at(k, p) = c * mkp - s * mkq;
          at(k, q) = s * mkp + c * mkq;
        }
        for (int64_t k = 0; k < n; ++k) {  // rows p and q
          const double mpk = at(p, k), mqk = at(q, k);
          at(p, k) = c * mpk - s * mqk;
          at(q, k) = s * mpk + c * mqk;
        }
        at(p, q) = at(q, p) = 0.0;
        for (int64_t k = 0; k < n; ++k) {  // eigenvector rows p and q
          const double ep = e[size_t(p * n + k)], eq = e[size_t(q * n + k)];
          e[size_t(p * n + k)] = c * ep - s * eq;
          e[size_t(q * n + k)] = s * ep + c * eq;
        }
      }
  }
  for (int64_t i = 0; i < n; ++i) w[i] = at(i, i);
  std::copy(e.begin(), e.end(), v);
  sort_ascending(n, w, v);
}

bool symmetric_eigen_uses_lapack() {
#ifdef TF_HAVE_OPENBLAS
  return true;
#else
  return false;
#endif
}

void symmetric_eigen(const double* a, int64_t n, double* w, double* v) {
  if (n <= 0) return;
#ifdef TF_HAVE_OPENBLAS
  TF_CHECK(n <= 46340, "symmetric_eigen: matrix too large");
  // LAPACK is column-major: the symmetric matrix reads the same either way, and its
  // column-major eigenvectors (column i for w[i]) are our row-major rows.
  std::copy(a, a + n * n, v);
  const int ni = int(n);
  int info = 0, lwork = -1, liwork = -1, iwork_query = 0;
  double work_query = 0;
  dsyevd_("V", "U", &ni, v, &ni, w, &work_query, &lwork, &iwork_query, &liwork, &info, 1, 1);
  TF_CHECK(info == 0, "symmetric_eigen: LAPACK workspace query failed (info " + std::to_string(info) + ")");
  lwork = int(work_query);
  liwork = iwork_query;
  std::vector<double> work(static_cast<size_t>(std::max(lwork, 1)));
  std::vector<int> iwork(static_cast<size_t>(std::max(liwork, 1)));
  pool()->park();  // OpenBLAS threads run its BLAS calls: our idle workers give up the cores
  dsyevd_("V", "U", &ni, v, &ni, w, work.data(), &lwork, iwork.data(), &liwork, &info, 1, 1);
  TF_CHECK(info == 0, "symmetric_eigen: LAPACK dsyevd did not converge (info " + std::to_string(info) + ")");
#else
  symmetric_eigen_jacobi(a, n, w, v);
#endif
}

}  // namespace tf::cpu
