// The fusion's PCA option and the symmetric eigen-solver under it, against float64
// re-derivations that follow the reference's definition literally: the left singular
// vectors of the centred anchor (features x neurons), from the features x features
// matrix C C^T, and both models' centred neurons projected onto the top k of them.
// Distances between projected neurons do not depend on the basis chosen within the
// subspace, so they are what is compared.
#include <cmath>
#include <numeric>
#include <vector>

#include "../core/cpu/symmetric_eigen.h"
#include "../core/error.h"
#include "../core/fusion/fusion.h"
#include "../core/fusion/pca.h"
#include "check.h"
#include "ot_test_util.h"
#include "test_device.h"

namespace tf::test {
namespace {

std::vector<double> random_symmetric(int64_t n, uint32_t seed) {
  const auto r = random_vector(size_t(n * n), seed);
  std::vector<double> a(size_t(n * n));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) a[size_t(i * n + j)] = 0.5 * (double(r[size_t(i * n + j)]) + double(r[size_t(j * n + i)]));
  return a;
}

// |A v_i - w_i v_i|, |v_i . v_j - delta_ij| and the order of w, all within tol.
void check_eigen(const std::vector<double>& a, int64_t n, const std::vector<double>& w, const std::vector<double>& v,
                 double tol) {
  for (int64_t i = 0; i < n; ++i) {
    if (i > 0) CHECK(w[size_t(i - 1)] <= w[size_t(i)]);
    for (int64_t r = 0; r < n; ++r) {
      double av = 0;
      for (int64_t c = 0; c < n; ++c) av += a[size_t(r * n + c)] * v[size_t(i * n + c)];
      CHECK_NEAR(av, w[size_t(i)] * v[size_t(i * n + r)], tol);
    }
    for (int64_t j = 0; j < n; ++j) {
      double dot = 0;
      for (int64_t c = 0; c < n; ++c) dot += v[size_t(i * n + c)] * v[size_t(j * n + c)];
      CHECK_NEAR(dot, i == j ? 1.0 : 0.0, tol);
    }
  }
}

TEST("symmetric eigen: Jacobi and the linked LAPACK (when there is one) against A v = w v") {
  for (int64_t n : {1, 2, 7, 40}) {
    auto a = random_symmetric(n, uint32_t(50 + n));
    std::vector<double> w(static_cast<size_t>(n)), v(size_t(n * n)), wj(w.size()), vj(v.size());
    cpu::symmetric_eigen(a.data(), n, w.data(), v.data());
    cpu::symmetric_eigen_jacobi(a.data(), n, wj.data(), vj.data());
    check_eigen(a, n, w, v, 1e-10);
    check_eigen(a, n, wj, vj, 1e-10);
    for (int64_t i = 0; i < n; ++i) CHECK_NEAR(w[size_t(i)], wj[size_t(i)], 1e-10);
  }
  // A repeated eigenvalue and a rank-deficient PSD matrix (x x^T + y y^T).
  const int64_t n = 6;
  std::vector<double> a(size_t(n * n), 0.0);
  const double x[n] = {1, 2, 0, -1, 3, 1}, y[n] = {0, 1, 1, 1, -2, 0};
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) a[size_t(i * n + j)] = x[i] * x[j] + y[i] * y[j];
  std::vector<double> w(static_cast<size_t>(n)), v(size_t(n * n));
  cpu::symmetric_eigen(a.data(), n, w.data(), v.data());
  check_eigen(a, n, w, v, 1e-10);
  for (int64_t i = 0; i < n - 2; ++i) CHECK_NEAR(w[size_t(i)], 0.0, 1e-10);
}

// The reference's definition, in float64: features x features eigenproblem of the centred
// anchor, top-k directions (only those with non-zero variance), both sides projected.
struct Reference {
  std::vector<double> a, b;
  int64_t dim;
};
Reference pca_reference(const std::vector<float>& a, const std::vector<float>& b, int64_t n, int64_t f, int64_t k) {
  std::vector<double> mu(static_cast<size_t>(n), 0.0);
  for (int64_t j = 0; j < n; ++j) {
    for (int64_t t = 0; t < f; ++t) mu[size_t(j)] += b[size_t(j * f + t)];
    mu[size_t(j)] /= double(f);
  }
  std::vector<double> ac(size_t(n * f)), bc(size_t(n * f));
  for (int64_t i = 0; i < n; ++i)
    for (int64_t t = 0; t < f; ++t) {
      ac[size_t(i * f + t)] = a[size_t(i * f + t)] - mu[size_t(i)];
      bc[size_t(i * f + t)] = b[size_t(i * f + t)] - mu[size_t(i)];
    }
  if (k >= f) return {ac, bc, f};
  std::vector<double> cct(size_t(f * f), 0.0);  // C C^T with C = bc^T (features x neurons)
  for (int64_t s = 0; s < f; ++s)
    for (int64_t t = 0; t < f; ++t)
      for (int64_t j = 0; j < n; ++j) cct[size_t(s * f + t)] += bc[size_t(j * f + s)] * bc[size_t(j * f + t)];
  std::vector<double> w(static_cast<size_t>(f)), u(size_t(f * f));
  cpu::symmetric_eigen_jacobi(cct.data(), f, w.data(), u.data());
  int64_t kept = 0;
  while (kept < k && w[size_t(f - 1 - kept)] > 1e-9 * w[size_t(f - 1)]) ++kept;
  Reference r{std::vector<double>(size_t(n * kept)), std::vector<double>(size_t(n * kept)), kept};
  for (int64_t c = 0; c < kept; ++c) {
    const double* uc = u.data() + (f - 1 - c) * f;
    for (int64_t i = 0; i < n; ++i) {
      double pa = 0, pb = 0;
      for (int64_t t = 0; t < f; ++t) {
        pa += ac[size_t(i * f + t)] * uc[t];
        pb += bc[size_t(i * f + t)] * uc[t];
      }
      r.a[size_t(i * kept + c)] = pa;
      r.b[size_t(i * kept + c)] = pb;
    }
  }
  return r;
}

template <typename T>
double distance(const T* x, const T* y, int64_t dim) {
  double s = 0;
  for (int64_t t = 0; t < dim; ++t) s += (double(x[t]) - double(y[t])) * (double(x[t]) - double(y[t]));
  return std::sqrt(s);
}

TEST("pca features: distances between projected neurons match the reference's definition") {
  // 5 neurons over 12 features: the centred anchor has rank 5. k = 3 keeps the top three
  // principal directions, k = 8 (between rank and features) the row space, k = 12 everything.
  const int64_t n = 5, f = 12;
  const auto a = random_vector(size_t(n * f), 61, -1.0f, 2.0f), b = random_vector(size_t(n * f), 62, -1.0f, 2.0f);
  for (int64_t k : {1, 3, 5, 8, 12, 40}) {
    // Neurons as rows (features contiguous), as the weights layout gives them.
    const auto va = ot::NeuronView::of_rows(a.data(), n, f), vb = ot::NeuronView::of_rows(b.data(), n, f);
    const fusion::PcaFeatures got = fusion::pca_features(va, vb, k);
    const Reference want = pca_reference(a, b, n, f, k);
    CHECK(got.dim == want.dim);
    CHECK(got.projected == (k < f));
    if (got.dim != want.dim) continue;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) {
        const double dg = distance(got.a.data() + i * got.dim, got.b.data() + j * got.dim, got.dim);
        const double dw = distance(want.a.data() + i * want.dim, want.b.data() + j * want.dim, want.dim);
        CHECK_NEAR(dg, dw, 1e-5 * (1.0 + dw));
        const double bg = distance(got.b.data() + i * got.dim, got.b.data() + j * got.dim, got.dim);
        const double bw = distance(want.b.data() + i * want.dim, want.b.data() + j * want.dim, want.dim);
        CHECK_NEAR(bg, bw, 1e-5 * (1.0 + bw));
      }
  }
  // Activations layout (neurons as columns) gives the same features.
  std::vector<float> at(a.size()), bt(b.size());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t t = 0; t < f; ++t) at[size_t(t * n + i)] = a[size_t(i * f + t)], bt[size_t(t * n + i)] = b[size_t(i * f + t)];
  const auto rows = fusion::pca_features(ot::NeuronView::of_rows(a.data(), n, f), ot::NeuronView::of_rows(b.data(), n, f), 3);
  const auto cols = fusion::pca_features(ot::NeuronView::of_columns(at.data(), f, n), ot::NeuronView::of_columns(bt.data(), f, n), 3);
  for (size_t i = 0; i < rows.a.size(); ++i) CHECK_NEAR(cols.a[i], rows.a[i], 1e-5);
  // A narrower model being aligned: its projection does not depend on centring, so its
  // neurons land where the same neurons of the full-width model do.
  const auto narrow = ot::NeuronView::of_rows(a.data(), n - 1, f), vb = ot::NeuronView::of_rows(b.data(), n, f);
  const auto full = fusion::pca_features(ot::NeuronView::of_rows(a.data(), n, f), vb, 3);
  const auto part = fusion::pca_features(narrow, vb, 3);
  CHECK(part.a.size() == size_t((n - 1) * part.dim) && part.dim == full.dim);
  for (size_t i = 0; i < part.a.size(); ++i) CHECK_NEAR(part.a[i], full.a[i], 1e-5);
  // Compared whole (k at least the features), the reference's index-by-index centring
  // needs equal widths.
  try {
    fusion::pca_features(narrow, vb, f);
    CHECK(false);
  } catch (const Error& e) {
    CHECK(std::string(e.what()).rfind(fusion::kPcaWidthError, 0) == 0);
  }
}

TEST("pca maps: a permuted copy still maps onto the original (the anchor's centring cancels in the projection)") {
  const int64_t rows = 40, n = 7;
  auto b = random_vector(size_t(rows * n), 63);
  const std::vector<int64_t> perm = {3, 0, 6, 1, 5, 2, 4};
  const std::vector<float> a = permute_columns(b, rows, perm);
  for (int64_t k : {2, 5}) {
    fusion::MapOptions o;
    o.pca_k = k;
    std::vector<float> map(static_cast<size_t>(n * n));
    const auto d = fusion::transport_map(ot::NeuronView::of_columns(a.data(), rows, n),
                                         ot::NeuronView::of_columns(b.data(), rows, n), o, map.data());
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < n; ++j) CHECK_NEAR(map[size_t(i * n + j)], j == perm[size_t(i)] ? 1.0 : 0.0, 1e-6);
    CHECK_NEAR(d.transport_cost, 0.0, 1e-6);
  }
}

}  // namespace
}  // namespace tf::test
