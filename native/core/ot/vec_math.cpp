#include "vec_math.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <iterator>
#include <limits>
#include <string>

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define TF_OT_HAVE_AVX2_PATH 1
#include <immintrin.h>
#endif

namespace tf::ot::vec {

namespace {

// --- portable versions: several accumulators so the compiler can pipeline the adds ------

double dot_portable(const double* x, const double* y, int64_t n) {
  double s0 = 0, s1 = 0, s2 = 0, s3 = 0;
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    s0 += x[j] * y[j];
    s1 += x[j + 1] * y[j + 1];
    s2 += x[j + 2] * y[j + 2];
    s3 += x[j + 3] * y[j + 3];
  }
  for (; j < n; ++j) s0 += x[j] * y[j];
  return (s0 + s1) + (s2 + s3);
}

void axpy_portable(double alpha, const double* x, double* y, int64_t n) {
  for (int64_t j = 0; j < n; ++j) y[j] += alpha * x[j];
}

double exp_row_portable(const double* c, const double* g, double shift, double scale, double* out, int64_t n) {
  double s = 0;
  for (int64_t j = 0; j < n; ++j) {
    out[j] = std::exp((shift + (g ? g[j] : 0.0) - c[j]) * scale);
    s += out[j];
  }
  return s;
}

double sum_exp_row_portable(const double* c, const double* g, double shift, double scale, int64_t n) {
  double s = 0;
  for (int64_t j = 0; j < n; ++j) s += std::exp((shift + (g ? g[j] : 0.0) - c[j]) * scale);
  return s;
}

double max_diff_portable(const double* g, const double* c, int64_t n) {
  double mx = -std::numeric_limits<double>::infinity();
  for (int64_t j = 0; j < n; ++j) mx = std::max(mx, (g ? g[j] : 0.0) - c[j]);
  return mx;
}

void max_update_portable(double* acc, double p, const double* c, int64_t n) {
  for (int64_t j = 0; j < n; ++j) acc[j] = std::max(acc[j], p - c[j]);
}

void sum_exp_update_portable(double* acc, double p, const double* c, const double* shift, double scale, int64_t n) {
  for (int64_t j = 0; j < n; ++j) acc[j] += std::exp((p - c[j] - shift[j]) * scale);
}

void scale_mul_portable(double* out, double alpha, const double* k, const double* v, int64_t n) {
  for (int64_t j = 0; j < n; ++j) out[j] = alpha * k[j] * v[j];
}

void exp_inplace_portable(double* x, int64_t n) {
  for (int64_t j = 0; j < n; ++j) x[j] = std::exp(x[j]);
}

void dot_rows_portable(const double* k, int64_t ld, int rows, const double* x, int64_t n, double* out) {
  for (int r = 0; r < rows; ++r) out[r] = dot_portable(k + r * ld, x, n);
}

void axpy_rows_portable(const double* alpha, const double* k, int64_t ld, int rows, double* y, int64_t n) {
  for (int r = 0; r < rows; ++r) axpy_portable(alpha[r], k + r * ld, y, n);
}

double finite_min_portable(const double* x, int64_t n) {
  double mn = std::numeric_limits<double>::infinity(), bad = 0;
  for (int64_t j = 0; j < n; ++j) {
    mn = std::min(mn, x[j]);
    bad += x[j] - x[j];  // 0 for finite x, NaN for +-inf and NaN
  }
  return bad == 0 ? mn : std::numeric_limits<double>::quiet_NaN();
}

double colsum_dot_portable(const double* row, const double* c, double* colsum, int64_t n) {
  double s = 0;
  for (int64_t j = 0; j < n; ++j) {
    colsum[j] += row[j];
    s += row[j] * c[j];
  }
  return s;
}

double min_reduced_portable(const double* c, double p, const double* q, int64_t n, int64_t* arg) {
  double best = std::numeric_limits<double>::infinity();
  int64_t where = -1;
  for (int64_t j = 0; j < n; ++j) {
    const double r = c[j] + p - q[j];
    if (r < best) {
      best = r;
      where = j;
    }
  }
  *arg = where;
  return best;
}

const Kernels kPortable = {"portable",       dot_portable,        axpy_portable,           exp_row_portable,
                           sum_exp_row_portable, max_diff_portable, max_update_portable,
                           sum_exp_update_portable, scale_mul_portable, exp_inplace_portable,
                           dot_rows_portable,       axpy_rows_portable, finite_min_portable,
                           colsum_dot_portable,     min_reduced_portable};

#ifdef TF_OT_HAVE_AVX2_PATH

#define TF_AVX2 __attribute__((target("avx2,fma")))

// e^r on |r| <= ln2 / 2 by its Taylor series to degree 13 (truncation error < 5e-18), for
// Horner from the top: 1/13!, ..., 1/2!, 1, 1. Shared by the 4- and 8-lane exps so that
// they agree to the bit.
constexpr double kExpTaylor[] = {
    1.6059043836821614599e-10, 2.0876756987868098979e-09, 2.5052108385441718775e-08, 2.7557319223985890653e-07,
    2.7557319223985890653e-06, 2.4801587301587301587e-05, 1.9841269841269841270e-04, 1.3888888888888888889e-03,
    8.3333333333333333333e-03, 4.1666666666666666667e-02, 1.6666666666666666667e-01, 0.5, 1.0, 1.0};

// exp(x) for 4 doubles to about 1 ulp: x = k ln2 + r with |r| <= ln2 / 2, e^r by
// kExpTaylor, times 2^k built in the exponent bits. Lanes outside [-708, 709] (where 2^k would leave the normal range, or x is
// +-inf/NaN) are recomputed with std::exp so underflow to subnormals/0 stays exact.
TF_AVX2 inline __m256d exp4(__m256d x) {
  const __m256d lo = _mm256_set1_pd(-708.0), hi = _mm256_set1_pd(709.0);
  __m256d in_range = _mm256_and_pd(_mm256_cmp_pd(x, lo, _CMP_GE_OQ), _mm256_cmp_pd(x, hi, _CMP_LE_OQ));
  const __m256d log2e = _mm256_set1_pd(1.4426950408889634074);
  // ln2 split so that k * ln2_hi is exact for |k| < 2^11.
  const __m256d ln2_hi = _mm256_set1_pd(6.93147180369123816490e-01);
  const __m256d ln2_lo = _mm256_set1_pd(1.90821492927058770002e-10);
  __m256d k = _mm256_round_pd(_mm256_mul_pd(x, log2e), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  __m256d xs = _mm256_blendv_pd(_mm256_setzero_pd(), x, in_range);
  k = _mm256_blendv_pd(_mm256_setzero_pd(), k, in_range);
  __m256d r = _mm256_fnmadd_pd(k, ln2_hi, xs);
  r = _mm256_fnmadd_pd(k, ln2_lo, r);
  __m256d p = _mm256_set1_pd(kExpTaylor[0]);
  for (size_t d = 1; d < std::size(kExpTaylor); ++d) p = _mm256_fmadd_pd(p, r, _mm256_set1_pd(kExpTaylor[d]));
  __m128i k32 = _mm256_cvtpd_epi32(k);
  __m256i k64 = _mm256_cvtepi32_epi64(k32);
  __m256i bits = _mm256_slli_epi64(_mm256_add_epi64(k64, _mm256_set1_epi64x(1023)), 52);
  __m256d result = _mm256_mul_pd(p, _mm256_castsi256_pd(bits));
  if (_mm256_movemask_pd(in_range) != 0xF) {
    alignas(32) double xv[4], rv[4];
    _mm256_store_pd(xv, x);
    _mm256_store_pd(rv, result);
    int mask = _mm256_movemask_pd(in_range);
    for (int l = 0; l < 4; ++l)
      if (!(mask & (1 << l))) rv[l] = std::exp(xv[l]);
    result = _mm256_load_pd(rv);
  }
  return result;
}

TF_AVX2 inline double hsum(__m256d v) {
  __m128d lo = _mm256_castpd256_pd128(v), hi = _mm256_extractf128_pd(v, 1);
  lo = _mm_add_pd(lo, hi);
  return _mm_cvtsd_f64(_mm_add_sd(lo, _mm_unpackhi_pd(lo, lo)));
}

TF_AVX2 inline double hmax(__m256d v) {
  __m128d lo = _mm256_castpd256_pd128(v), hi = _mm256_extractf128_pd(v, 1);
  lo = _mm_max_pd(lo, hi);
  return _mm_cvtsd_f64(_mm_max_sd(lo, _mm_unpackhi_pd(lo, lo)));
}

TF_AVX2 double dot_avx2(const double* x, const double* y, int64_t n) {
  __m256d s0 = _mm256_setzero_pd(), s1 = s0, s2 = s0, s3 = s0;
  int64_t j = 0;
  for (; j + 16 <= n; j += 16) {
    s0 = _mm256_fmadd_pd(_mm256_loadu_pd(x + j), _mm256_loadu_pd(y + j), s0);
    s1 = _mm256_fmadd_pd(_mm256_loadu_pd(x + j + 4), _mm256_loadu_pd(y + j + 4), s1);
    s2 = _mm256_fmadd_pd(_mm256_loadu_pd(x + j + 8), _mm256_loadu_pd(y + j + 8), s2);
    s3 = _mm256_fmadd_pd(_mm256_loadu_pd(x + j + 12), _mm256_loadu_pd(y + j + 12), s3);
  }
  for (; j + 4 <= n; j += 4) s0 = _mm256_fmadd_pd(_mm256_loadu_pd(x + j), _mm256_loadu_pd(y + j), s0);
  double s = hsum(_mm256_add_pd(_mm256_add_pd(s0, s1), _mm256_add_pd(s2, s3)));
  for (; j < n; ++j) s += x[j] * y[j];
  return s;
}

TF_AVX2 void axpy_avx2(double alpha, const double* x, double* y, int64_t n) {
  __m256d a = _mm256_set1_pd(alpha);
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    _mm256_storeu_pd(y + j, _mm256_fmadd_pd(a, _mm256_loadu_pd(x + j), _mm256_loadu_pd(y + j)));
    _mm256_storeu_pd(y + j + 4, _mm256_fmadd_pd(a, _mm256_loadu_pd(x + j + 4), _mm256_loadu_pd(y + j + 4)));
  }
  for (; j + 4 <= n; j += 4)
    _mm256_storeu_pd(y + j, _mm256_fmadd_pd(a, _mm256_loadu_pd(x + j), _mm256_loadu_pd(y + j)));
  for (; j < n; ++j) y[j] += alpha * x[j];
}

TF_AVX2 inline __m256d affine4(const double* c, const double* g, int64_t j, __m256d shift, __m256d scale) {
  __m256d t = g ? _mm256_add_pd(shift, _mm256_loadu_pd(g + j)) : shift;
  return _mm256_mul_pd(_mm256_sub_pd(t, _mm256_loadu_pd(c + j)), scale);
}

TF_AVX2 double exp_row_avx2(const double* c, const double* g, double shift, double scale, double* out, int64_t n) {
  __m256d sh = _mm256_set1_pd(shift), sc = _mm256_set1_pd(scale), acc = _mm256_setzero_pd();
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    __m256d e = exp4(affine4(c, g, j, sh, sc));
    _mm256_storeu_pd(out + j, e);
    acc = _mm256_add_pd(acc, e);
  }
  double s = hsum(acc);
  for (; j < n; ++j) {
    out[j] = std::exp((shift + (g ? g[j] : 0.0) - c[j]) * scale);
    s += out[j];
  }
  return s;
}

TF_AVX2 double sum_exp_row_avx2(const double* c, const double* g, double shift, double scale, int64_t n) {
  __m256d sh = _mm256_set1_pd(shift), sc = _mm256_set1_pd(scale), acc = _mm256_setzero_pd();
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) acc = _mm256_add_pd(acc, exp4(affine4(c, g, j, sh, sc)));
  double s = hsum(acc);
  for (; j < n; ++j) s += std::exp((shift + (g ? g[j] : 0.0) - c[j]) * scale);
  return s;
}

TF_AVX2 double max_diff_avx2(const double* g, const double* c, int64_t n) {
  const double ninf = -std::numeric_limits<double>::infinity();
  __m256d m0 = _mm256_set1_pd(ninf), m1 = m0;
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256d d0 = g ? _mm256_sub_pd(_mm256_loadu_pd(g + j), _mm256_loadu_pd(c + j))
                   : _mm256_sub_pd(_mm256_setzero_pd(), _mm256_loadu_pd(c + j));
    __m256d d1 = g ? _mm256_sub_pd(_mm256_loadu_pd(g + j + 4), _mm256_loadu_pd(c + j + 4))
                   : _mm256_sub_pd(_mm256_setzero_pd(), _mm256_loadu_pd(c + j + 4));
    m0 = _mm256_max_pd(m0, d0);
    m1 = _mm256_max_pd(m1, d1);
  }
  double mx = hmax(_mm256_max_pd(m0, m1));
  for (; j < n; ++j) mx = std::max(mx, (g ? g[j] : 0.0) - c[j]);
  return mx;
}

TF_AVX2 void max_update_avx2(double* acc, double p, const double* c, int64_t n) {
  __m256d pv = _mm256_set1_pd(p);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4)
    _mm256_storeu_pd(acc + j, _mm256_max_pd(_mm256_loadu_pd(acc + j), _mm256_sub_pd(pv, _mm256_loadu_pd(c + j))));
  for (; j < n; ++j) acc[j] = std::max(acc[j], p - c[j]);
}

TF_AVX2 void sum_exp_update_avx2(double* acc, double p, const double* c, const double* shift, double scale,
                                 int64_t n) {
  __m256d pv = _mm256_set1_pd(p), sc = _mm256_set1_pd(scale);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    __m256d x = _mm256_mul_pd(_mm256_sub_pd(_mm256_sub_pd(pv, _mm256_loadu_pd(c + j)), _mm256_loadu_pd(shift + j)), sc);
    _mm256_storeu_pd(acc + j, _mm256_add_pd(_mm256_loadu_pd(acc + j), exp4(x)));
  }
  for (; j < n; ++j) acc[j] += std::exp((p - c[j] - shift[j]) * scale);
}

TF_AVX2 void scale_mul_avx2(double* out, double alpha, const double* k, const double* v, int64_t n) {
  __m256d a = _mm256_set1_pd(alpha);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4)
    _mm256_storeu_pd(out + j, _mm256_mul_pd(_mm256_mul_pd(a, _mm256_loadu_pd(k + j)), _mm256_loadu_pd(v + j)));
  for (; j < n; ++j) out[j] = alpha * k[j] * v[j];
}

TF_AVX2 void exp_inplace_avx2(double* x, int64_t n) {
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) _mm256_storeu_pd(x + j, exp4(_mm256_loadu_pd(x + j)));
  for (; j < n; ++j) x[j] = std::exp(x[j]);
}

TF_AVX2 void dot_rows_avx2(const double* k, int64_t ld, int rows, const double* x, int64_t n, double* out) {
  if (rows != 4) {
    for (int r = 0; r < rows; ++r) out[r] = dot_avx2(k + r * ld, x, n);
    return;
  }
  const double *k0 = k, *k1 = k + ld, *k2 = k + 2 * ld, *k3 = k + 3 * ld;
  // Two accumulators per row: eight independent FMA chains.
  __m256d a0 = _mm256_setzero_pd(), a1 = a0, a2 = a0, a3 = a0, b0 = a0, b1 = a0, b2 = a0, b3 = a0;
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256d x0 = _mm256_loadu_pd(x + j), x1 = _mm256_loadu_pd(x + j + 4);
    a0 = _mm256_fmadd_pd(_mm256_loadu_pd(k0 + j), x0, a0);
    a1 = _mm256_fmadd_pd(_mm256_loadu_pd(k1 + j), x0, a1);
    a2 = _mm256_fmadd_pd(_mm256_loadu_pd(k2 + j), x0, a2);
    a3 = _mm256_fmadd_pd(_mm256_loadu_pd(k3 + j), x0, a3);
    b0 = _mm256_fmadd_pd(_mm256_loadu_pd(k0 + j + 4), x1, b0);
    b1 = _mm256_fmadd_pd(_mm256_loadu_pd(k1 + j + 4), x1, b1);
    b2 = _mm256_fmadd_pd(_mm256_loadu_pd(k2 + j + 4), x1, b2);
    b3 = _mm256_fmadd_pd(_mm256_loadu_pd(k3 + j + 4), x1, b3);
  }
  for (; j + 4 <= n; j += 4) {
    __m256d x0 = _mm256_loadu_pd(x + j);
    a0 = _mm256_fmadd_pd(_mm256_loadu_pd(k0 + j), x0, a0);
    a1 = _mm256_fmadd_pd(_mm256_loadu_pd(k1 + j), x0, a1);
    a2 = _mm256_fmadd_pd(_mm256_loadu_pd(k2 + j), x0, a2);
    a3 = _mm256_fmadd_pd(_mm256_loadu_pd(k3 + j), x0, a3);
  }
  out[0] = hsum(_mm256_add_pd(a0, b0));
  out[1] = hsum(_mm256_add_pd(a1, b1));
  out[2] = hsum(_mm256_add_pd(a2, b2));
  out[3] = hsum(_mm256_add_pd(a3, b3));
  for (; j < n; ++j) {
    out[0] += k0[j] * x[j];
    out[1] += k1[j] * x[j];
    out[2] += k2[j] * x[j];
    out[3] += k3[j] * x[j];
  }
}

TF_AVX2 void axpy_rows_avx2(const double* alpha, const double* k, int64_t ld, int rows, double* y, int64_t n) {
  if (rows != 4) {
    for (int r = 0; r < rows; ++r) axpy_avx2(alpha[r], k + r * ld, y, n);
    return;
  }
  const double *k0 = k, *k1 = k + ld, *k2 = k + 2 * ld, *k3 = k + 3 * ld;
  __m256d c0 = _mm256_set1_pd(alpha[0]), c1 = _mm256_set1_pd(alpha[1]), c2 = _mm256_set1_pd(alpha[2]),
          c3 = _mm256_set1_pd(alpha[3]);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    __m256d s = _mm256_fmadd_pd(c0, _mm256_loadu_pd(k0 + j), _mm256_loadu_pd(y + j));
    __m256d t = _mm256_mul_pd(c1, _mm256_loadu_pd(k1 + j));
    s = _mm256_fmadd_pd(c2, _mm256_loadu_pd(k2 + j), s);
    t = _mm256_fmadd_pd(c3, _mm256_loadu_pd(k3 + j), t);
    _mm256_storeu_pd(y + j, _mm256_add_pd(s, t));
  }
  for (; j < n; ++j) y[j] += (alpha[0] * k0[j] + alpha[2] * k2[j]) + (alpha[1] * k1[j] + alpha[3] * k3[j]);
}

TF_AVX2 double finite_min_avx2(const double* x, int64_t n) {
  __m256d mn = _mm256_set1_pd(std::numeric_limits<double>::infinity()), bad = _mm256_setzero_pd();
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    __m256d v = _mm256_loadu_pd(x + j);
    mn = _mm256_min_pd(mn, v);
    bad = _mm256_add_pd(bad, _mm256_sub_pd(v, v));  // 0 for finite lanes, NaN otherwise
  }
  double m = hmax(_mm256_sub_pd(_mm256_setzero_pd(), mn));
  double b = hsum(bad);
  m = -m;
  for (; j < n; ++j) {
    m = std::min(m, x[j]);
    b += x[j] - x[j];
  }
  return b == 0 ? m : std::numeric_limits<double>::quiet_NaN();
}

TF_AVX2 double colsum_dot_avx2(const double* row, const double* c, double* colsum, int64_t n) {
  __m256d s0 = _mm256_setzero_pd(), s1 = s0;
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m256d r0 = _mm256_loadu_pd(row + j), r1 = _mm256_loadu_pd(row + j + 4);
    _mm256_storeu_pd(colsum + j, _mm256_add_pd(_mm256_loadu_pd(colsum + j), r0));
    _mm256_storeu_pd(colsum + j + 4, _mm256_add_pd(_mm256_loadu_pd(colsum + j + 4), r1));
    s0 = _mm256_fmadd_pd(r0, _mm256_loadu_pd(c + j), s0);
    s1 = _mm256_fmadd_pd(r1, _mm256_loadu_pd(c + j + 4), s1);
  }
  double s = hsum(_mm256_add_pd(s0, s1));
  for (; j < n; ++j) {
    colsum[j] += row[j];
    s += row[j] * c[j];
  }
  return s;
}

// Lane-wise minima with the index where each was first seen, then the lanes combined;
// ties resolve to the smallest index, like the portable loop.
TF_AVX2 double min_reduced_avx2(const double* c, double p, const double* q, int64_t n, int64_t* arg) {
  const double inf = std::numeric_limits<double>::infinity();
  __m256d pv = _mm256_set1_pd(p), best = _mm256_set1_pd(inf), where = _mm256_set1_pd(-1.0);
  __m256d idx = _mm256_set_pd(3.0, 2.0, 1.0, 0.0), four = _mm256_set1_pd(4.0);
  int64_t j = 0;
  for (; j + 4 <= n; j += 4) {
    __m256d r = _mm256_sub_pd(_mm256_add_pd(_mm256_loadu_pd(c + j), pv), _mm256_loadu_pd(q + j));
    __m256d lt = _mm256_cmp_pd(r, best, _CMP_LT_OQ);
    best = _mm256_blendv_pd(best, r, lt);
    where = _mm256_blendv_pd(where, idx, lt);
    idx = _mm256_add_pd(idx, four);
  }
  alignas(32) double bv[4], wv[4];
  _mm256_store_pd(bv, best);
  _mm256_store_pd(wv, where);
  double b = inf;
  int64_t w = -1;
  for (int l = 0; l < 4; ++l)
    if (wv[l] >= 0 && (bv[l] < b || (bv[l] == b && int64_t(wv[l]) < w))) {
      b = bv[l];
      w = int64_t(wv[l]);
    }
  for (; j < n; ++j) {
    const double r = c[j] + p - q[j];
    if (r < b) {
      b = r;
      w = j;
    }
  }
  *arg = w;
  return b;
}

const Kernels kAvx2 = {"avx2+fma",       dot_avx2,        axpy_avx2,           exp_row_avx2,
                       sum_exp_row_avx2, max_diff_avx2,   max_update_avx2,     sum_exp_update_avx2,
                       scale_mul_avx2,   exp_inplace_avx2, dot_rows_avx2,       axpy_rows_avx2,
                       finite_min_avx2,  colsum_dot_avx2,  min_reduced_avx2};

// --- AVX-512: the exp rows only (the kernel build is the one pass bound by arithmetic, not
// memory). Same reduction and polynomial as exp4, so the two agree to the bit wherever
// 2^k is a normal number; vscalefpd applies 2^k.
#define TF_AVX512 __attribute__((target("avx512f,avx2,fma")))

TF_AVX512 inline __m512d exp8(__m512d x) {
  const __mmask8 in_range = _mm512_cmp_pd_mask(x, _mm512_set1_pd(-708.0), _CMP_GE_OQ) &
                            _mm512_cmp_pd_mask(x, _mm512_set1_pd(709.0), _CMP_LE_OQ);
  const __m512d k = _mm512_maskz_roundscale_pd(in_range, _mm512_mul_pd(x, _mm512_set1_pd(1.4426950408889634074)),
                                               _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC);
  const __m512d xs = _mm512_maskz_mov_pd(in_range, x);
  __m512d r = _mm512_fnmadd_pd(k, _mm512_set1_pd(6.93147180369123816490e-01), xs);
  r = _mm512_fnmadd_pd(k, _mm512_set1_pd(1.90821492927058770002e-10), r);
  __m512d p = _mm512_set1_pd(kExpTaylor[0]);
  for (size_t d = 1; d < std::size(kExpTaylor); ++d) p = _mm512_fmadd_pd(p, r, _mm512_set1_pd(kExpTaylor[d]));
  // The masked forms name every source: GCC 12 warns on the unmasked ones' undefined source.
  __m512d result = _mm512_mask_scalef_pd(p, 0xFF, p, k);
  if (in_range != 0xFF) {
    alignas(64) double xv[8], rv[8];
    _mm512_store_pd(xv, x);
    _mm512_store_pd(rv, result);
    for (int l = 0; l < 8; ++l)
      if (!(in_range & (1 << l))) rv[l] = std::exp(xv[l]);
    result = _mm512_load_pd(rv);
  }
  return result;
}

TF_AVX512 inline double hsum8(__m512d v) {
  const __m256d lo = _mm512_mask_extractf64x4_pd(_mm256_setzero_pd(), 0xF, v, 0);
  const __m256d hi = _mm512_mask_extractf64x4_pd(_mm256_setzero_pd(), 0xF, v, 1);
  return hsum(_mm256_add_pd(lo, hi));
}

TF_AVX512 inline __m512d affine8(const double* c, const double* g, int64_t j, __m512d shift, __m512d scale) {
  __m512d t = g ? _mm512_add_pd(shift, _mm512_loadu_pd(g + j)) : shift;
  return _mm512_mul_pd(_mm512_sub_pd(t, _mm512_loadu_pd(c + j)), scale);
}

TF_AVX512 double exp_row_avx512(const double* c, const double* g, double shift, double scale, double* out, int64_t n) {
  __m512d sh = _mm512_set1_pd(shift), sc = _mm512_set1_pd(scale), acc = _mm512_setzero_pd();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) {
    __m512d e = exp8(affine8(c, g, j, sh, sc));
    _mm512_storeu_pd(out + j, e);
    acc = _mm512_add_pd(acc, e);
  }
  // The tail through the AVX2 row (its sum added after the vector lanes').
  return hsum8(acc) + exp_row_avx2(c + j, g ? g + j : nullptr, shift, scale, out + j, n - j);
}

TF_AVX512 double sum_exp_row_avx512(const double* c, const double* g, double shift, double scale, int64_t n) {
  __m512d sh = _mm512_set1_pd(shift), sc = _mm512_set1_pd(scale), acc = _mm512_setzero_pd();
  int64_t j = 0;
  for (; j + 8 <= n; j += 8) acc = _mm512_add_pd(acc, exp8(affine8(c, g, j, sh, sc)));
  return hsum8(acc) + sum_exp_row_avx2(c + j, g ? g + j : nullptr, shift, scale, n - j);
}

const Kernels kAvx512 = {"avx512f+avx2+fma", dot_avx2,        axpy_avx2,           exp_row_avx512,
                         sum_exp_row_avx512, max_diff_avx2,   max_update_avx2,     sum_exp_update_avx2,
                         scale_mul_avx2,     exp_inplace_avx2, dot_rows_avx2,       axpy_rows_avx2,
                         finite_min_avx2,    colsum_dot_avx2,  min_reduced_avx2};

bool cpu_has_avx512f() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f");
}

bool cpu_has_avx2_fma() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

#endif  // TF_OT_HAVE_AVX2_PATH

}  // namespace

const Kernels& portable_kernels() { return kPortable; }

// TF_OT_KERNELS=portable / avx2 forces those loops (to test them end to end on a CPU that
// has AVX2).
const Kernels& kernels() {
#ifdef TF_OT_HAVE_AVX2_PATH
  static const Kernels& chosen = []() -> const Kernels& {
    const char* force = std::getenv("TF_OT_KERNELS");
    if (force && std::string(force) == "portable") return kPortable;
    if (!cpu_has_avx2_fma()) return kPortable;
    if (force && std::string(force) == "avx2") return kAvx2;
    return cpu_has_avx512f() ? kAvx512 : kAvx2;
  }();
  return chosen;
#else
  return kPortable;
#endif
}

}  // namespace tf::ot::vec
