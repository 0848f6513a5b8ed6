// The float64 vector loops the OT solvers spend their time in. Each has a portable
// version and, on x86-64, an AVX2+FMA version picked once at run time from the CPU's
// features, so one binary (a prebuild) runs everywhere and is fast where it can be.
// Results of the two versions differ only by summation order and the last bit of exp.
#pragma once

#include <cstdint>

namespace tf::ot::vec {

struct Kernels {
  const char* name;
  // sum_j x[j] * y[j]
  double (*dot)(const double* x, const double* y, int64_t n);
  // y[j] += alpha * x[j]
  void (*axpy)(double alpha, const double* x, double* y, int64_t n);
  // out[j] = exp((shift + g[j] - c[j]) * scale), g == nullptr meaning 0; returns sum_j out[j].
  double (*exp_row)(const double* c, const double* g, double shift, double scale, double* out, int64_t n);
  // sum_j exp((shift + g[j] - c[j]) * scale), g == nullptr meaning 0.
  double (*sum_exp_row)(const double* c, const double* g, double shift, double scale, int64_t n);
  // max_j (g[j] - c[j]), g == nullptr meaning 0; -inf for n == 0.
  double (*max_diff)(const double* g, const double* c, int64_t n);
  // acc[j] = max(acc[j], p - c[j])
  void (*max_update)(double* acc, double p, const double* c, int64_t n);
  // acc[j] += exp((p - c[j] - shift[j]) * scale)
  void (*sum_exp_update)(double* acc, double p, const double* c, const double* shift, double scale, int64_t n);
  // out[j] = alpha * k[j] * v[j]
  void (*scale_mul)(double* out, double alpha, const double* k, const double* v, int64_t n);
  // exp of every element, in place.
  void (*exp_inplace)(double* x, int64_t n);
  // out[r] = sum_j k[r * ld + j] * x[j] for the `rows` (1..4) rows at k: x is loaded once
  // for all of them.
  void (*dot_rows)(const double* k, int64_t ld, int rows, const double* x, int64_t n, double* out);
  // y[j] += sum_r alpha[r] * k[r * ld + j] for `rows` (1..4) rows: y is loaded and stored
  // once for all of them.
  void (*axpy_rows)(const double* alpha, const double* k, int64_t ld, int rows, double* y, int64_t n);
  // min_j x[j], or NaN when some x[j] is not finite; +inf for n == 0.
  double (*finite_min)(const double* x, int64_t n);
  // colsum[j] += row[j]; returns sum_j row[j] * c[j] (measures a plan row once written).
  double (*colsum_dot)(const double* row, const double* c, double* colsum, int64_t n);
  // min_j (c[j] + p - q[j]) and (in *arg) the first j attaining it; +inf and -1 for n == 0.
  // The pricing step of the network simplex (reduced costs of a row's arcs).
  double (*min_reduced)(const double* c, double p, const double* q, int64_t n, int64_t* arg);
};

// The kernels for this CPU (AVX2+FMA when available, with AVX-512 exp rows where the CPU
// has AVX-512F), chosen on first use; TF_OT_KERNELS=portable or =avx2 in the environment
// forces the portable or the AVX2 ones.
const Kernels& kernels();
// The portable kernels (tests compare the two).
const Kernels& portable_kernels();

inline double dot(const double* x, const double* y, int64_t n) { return kernels().dot(x, y, n); }
inline void axpy(double alpha, const double* x, double* y, int64_t n) { kernels().axpy(alpha, x, y, n); }
inline double exp_row(const double* c, const double* g, double shift, double scale, double* out, int64_t n) {
  return kernels().exp_row(c, g, shift, scale, out, n);
}
inline double sum_exp_row(const double* c, const double* g, double shift, double scale, int64_t n) {
  return kernels().sum_exp_row(c, g, shift, scale, n);
}
inline double max_diff(const double* g, const double* c, int64_t n) { return kernels().max_diff(g, c, n); }
inline void max_update(double* acc, double p, const double* c, int64_t n) { kernels().max_update(acc, p, c, n); }
inline void sum_exp_update(double* acc, double p, const double* c, const double* shift, double scale, int64_t n) {
  kernels().sum_exp_update(acc, p, c, shift, scale, n);
}
inline void scale_mul(double* out, double alpha, const double* k, const double* v, int64_t n) {
  kernels().scale_mul(out, alpha, k, v, n);
}
inline void exp_inplace(double* x, int64_t n) { kernels().exp_inplace(x, n); }
inline void dot_rows(const double* k, int64_t ld, int rows, const double* x, int64_t n, double* out) {
  kernels().dot_rows(k, ld, rows, x, n, out);
}
inline void axpy_rows(const double* alpha, const double* k, int64_t ld, int rows, double* y, int64_t n) {
  kernels().axpy_rows(alpha, k, ld, rows, y, n);
}
inline double finite_min(const double* x, int64_t n) { return kernels().finite_min(x, n); }
inline double colsum_dot(const double* row, const double* c, double* colsum, int64_t n) {
  return kernels().colsum_dot(row, c, colsum, n);
}
inline double min_reduced(const double* c, double p, const double* q, int64_t n, int64_t* arg) {
  return kernels().min_reduced(c, p, q, n, arg);
}

}  // namespace tf::ot::vec
