// Shared helpers for the optimal-transport tests: seeded problems and plan checks.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace tf::test {

// The columns (neurons) of a rows x n matrix reordered: column i of the result is column
// perm[i] of b. A model's activations after its neurons were permuted.
inline std::vector<float> permute_columns(const std::vector<float>& b, int64_t rows, const std::vector<int64_t>& perm) {
  const int64_t n = int64_t(perm.size());
  std::vector<float> a(b.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t i = 0; i < n; ++i) a[size_t(r * n + i)] = b[size_t(r * n + perm[size_t(i)])];
  return a;
}

inline std::vector<double> random_doubles(size_t n, uint32_t seed, double lo = 0.0, double hi = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(lo, hi);
  std::vector<double> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// A random histogram summing to `mass`, optionally with some exact zeros.
inline std::vector<double> random_histogram(size_t n, uint32_t seed, double zero_fraction = 0.0, double mass = 1.0) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> dist(0.05, 1.0);
  std::vector<double> h(n);
  double s = 0;
  for (size_t i = 0; i < n; ++i) {
    h[i] = dist(rng) < 0.05 + zero_fraction ? (zero_fraction > 0 ? 0.0 : dist(rng)) : dist(rng);
    s += h[i];
  }
  if (s == 0) {
    h[0] = 1;
    s = 1;
  }
  for (auto& x : h) x *= mass / s;
  return h;
}

inline std::vector<double> uniform_histogram(size_t n) { return std::vector<double>(n, 1.0 / double(n)); }

// max_ij |x - y| / max_ij |y|
inline double max_rel_diff(const std::vector<double>& x, const std::vector<double>& y) {
  double d = 0, s = 0;
  for (size_t i = 0; i < x.size(); ++i) {
    d = std::max(d, std::fabs(x[i] - y[i]));
    s = std::max(s, std::fabs(y[i]));
  }
  return s > 0 ? d / s : d;
}

inline std::vector<double> row_sums(const std::vector<double>& p, int64_t n, int64_t m) {
  std::vector<double> r(static_cast<size_t>(n), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) r[i] += p[i * m + j];
  return r;
}

inline std::vector<double> col_sums(const std::vector<double>& p, int64_t n, int64_t m) {
  std::vector<double> c(static_cast<size_t>(m), 0.0);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) c[j] += p[i * m + j];
  return c;
}

inline bool all_finite_nonnegative(const std::vector<double>& p) {
  for (double x : p)
    if (!std::isfinite(x) || x < 0) return false;
  return true;
}

}  // namespace tf::test
