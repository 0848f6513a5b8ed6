// Ground costs between neurons, in the reference's order: metric, then normalisation,
// then clipping (ground_metric.py: get_metric -> _normalize -> _clip).
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../error.h"
#include "../thread_pool.h"
#include "gram.h"
#include "input_checks.h"
#include "ot.h"

namespace tf::ot {

namespace {

// The reference's eps in v / (|v| + eps) for unit-norm weights.
constexpr double kUnitNormEps = 1e-9;

template <typename Fn>
void for_rows(int64_t n, int64_t m, const Fn& fn) {
  parallel_for(n, std::max<int64_t>(1, 16384 / std::max<int64_t>(m, 1)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) fn(i);
  });
}

// Lower median, as torch.median: the element of rank (N - 1) / 2 in sorted order.
double lower_median(const double* c, int64_t n, int64_t m, int64_t ld) {
  std::vector<double> all(static_cast<size_t>(n * m));
  for (int64_t i = 0; i < n; ++i) std::copy(c + i * ld, c + i * ld + m, all.begin() + i * m);
  auto mid = all.begin() + (all.size() - 1) / 2;
  std::nth_element(all.begin(), mid, all.end());
  return *mid;
}

// max or mean of the matrix; per-row partials combined in row order, so the result does
// not depend on the thread count.
double reduce(const double* c, int64_t n, int64_t m, int64_t ld, bool want_max) {
  std::vector<double> part(static_cast<size_t>(n));
  for_rows(n, m, [&](int64_t i) {
    const double* row = c + i * ld;
    double acc = want_max ? -std::numeric_limits<double>::infinity() : 0.0;
    for (int64_t j = 0; j < m; ++j) acc = want_max ? std::max(acc, row[j]) : acc + row[j];
    part[i] = acc;
  });
  double total = want_max ? -std::numeric_limits<double>::infinity() : 0.0;
  for (double p : part) total = want_max ? std::max(total, p) : total + p;
  return want_max ? total : total / double(n * m);
}

}  // namespace

CostInfo cost_matrix(const NeuronView& a, const NeuronView& b, const CostOptions& options, double* out, int64_t ldo,
                     TaskContext* ctx) {
  check_cost_matrix_args(a, b, options, ldo);
  CostInfo info;
  const int64_t n = a.count, m = b.count;
  if (n == 0 || m == 0) return info;
  TF_CHECK(out != nullptr, "cost_matrix: no output buffer");

  std::vector<double> a_sq(static_cast<size_t>(n)), b_sq(static_cast<size_t>(m));
  if (options.gram_f32) {
    gram_f32(a, b, out, ldo, a_sq.data(), b_sq.data(), ctx);
  } else {
    gram_f64(a, b, out, ldo, a_sq.data(), b_sq.data(), ctx);
  }
  if (ctx) ctx->check_cancelled();

  // Per-neuron factors: the length used by the metric (after the optional unit scaling).
  std::vector<double> a_len(static_cast<size_t>(n)), a_scale(static_cast<size_t>(n), 1.0);
  std::vector<double> b_len(static_cast<size_t>(m)), b_scale(static_cast<size_t>(m), 1.0);
  for (int64_t i = 0; i < n; ++i) a_len[i] = std::sqrt(a_sq[i]);
  for (int64_t j = 0; j < m; ++j) b_len[j] = std::sqrt(b_sq[j]);
  if (options.unit_norm) {
    for (int64_t i = 0; i < n; ++i) a_scale[i] = 1.0 / (a_len[i] + kUnitNormEps);
    for (int64_t j = 0; j < m; ++j) b_scale[j] = 1.0 / (b_len[j] + kUnitNormEps);
  }

  if (options.metric == Metric::Euclidean) {
    for_rows(n, m, [&](int64_t i) {
      double* row = out + i * ldo;
      const double sa = a_scale[i], asq = a_sq[i] * sa * sa;
      for (int64_t j = 0; j < m; ++j) {
        const double sb = b_scale[j];
        double d2 = asq + b_sq[j] * sb * sb - 2.0 * row[j] * sa * sb;
        d2 = d2 > 0.0 ? d2 : 0.0;
        row[j] = options.squared ? d2 : std::sqrt(d2);
      }
    });
  } else {
    // The unit scaling cancels in a cosine, so it is not applied.
    for_rows(n, m, [&](int64_t i) {
      double* row = out + i * ldo;
      for (int64_t j = 0; j < m; ++j) {
        double denom = a_len[i] * b_len[j];
        double d = denom > 0.0 ? 1.0 - row[j] / denom : 1.0;
        row[j] = d > 0.0 ? d : 0.0;
      }
    });
  }

  double divisor = 1.0;
  switch (options.normalize) {
    case Normalization::None:
      break;
    case Normalization::Log:
      for_rows(n, m, [&](int64_t i) {
        double* row = out + i * ldo;
        for (int64_t j = 0; j < m; ++j) row[j] = std::log1p(row[j]);
      });
      break;
    case Normalization::Max:
      divisor = reduce(out, n, m, ldo, true);
      break;
    case Normalization::Mean:
      divisor = reduce(out, n, m, ldo, false);
      break;
    case Normalization::Median:
      divisor = lower_median(out, n, m, ldo);
      break;
  }
  if (divisor != 1.0 && divisor > 0.0 && std::isfinite(divisor)) {
    info.scale = divisor;
    for_rows(n, m, [&](int64_t i) {
      double* row = out + i * ldo;
      // Division (not multiplication by 1/divisor) so that the maximum maps to exactly 1.
      for (int64_t j = 0; j < m; ++j) row[j] = row[j] / divisor;
    });
  }

  if (options.clip) {
    const double lo = options.clip_reg * options.clip_min, hi = options.clip_reg * options.clip_max;
    std::vector<int64_t> at_or_above(static_cast<size_t>(n));
    for_rows(n, m, [&](int64_t i) {
      double* row = out + i * ldo;
      int64_t count = 0;
      for (int64_t j = 0; j < m; ++j) {
        count += row[j] >= hi;
        // min(max(x, lo), hi): with lo > hi every entry becomes hi, as torch.clamp does.
        row[j] = std::min(std::max(row[j], lo), hi);
      }
      at_or_above[i] = count;
    });
    int64_t total = 0;
    for (int64_t c : at_or_above) total += c;
    info.percent_clipped = 100.0 * double(total) / double(n * m);
  }
  if (ctx) ctx->progress(1, 1);
  return info;
}

}  // namespace tf::ot
