// Cost matrices against a float64 brute force written here: every metric x normalisation
// x squared x clip x unit-norm combination, both neuron layouts, padded and general
// strides, the BLAS and portable Gram paths, and the reference's edge semantics.
#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "../core/cpu/kernels.h"
#include "../core/ot/ot.h"
#include "check.h"
#include "ot_test_util.h"
#include "test_device.h"

namespace tf::test {
namespace {

using ot::CostOptions;
using ot::Metric;
using ot::Normalization;
using ot::NeuronView;

// Neuron k's features as float64.
std::vector<double> neuron(const NeuronView& v, int64_t k) {
  std::vector<double> x(static_cast<size_t>(v.dim));
  for (int64_t t = 0; t < v.dim; ++t) x[t] = v.data[k * v.neuron_stride + t * v.feature_stride];
  return x;
}

// ground_metric.py's process(), in float64, straight from the definitions.
std::vector<double> brute_force(const NeuronView& a, const NeuronView& b, const CostOptions& o, double* pct) {
  const int64_t n = a.count, m = b.count;
  std::vector<double> c(static_cast<size_t>(n * m));
  for (int64_t i = 0; i < n; ++i) {
    auto x = neuron(a, i);
    double nx = 0;
    for (double e : x) nx += e * e;
    nx = std::sqrt(nx);
    if (o.unit_norm && o.metric == Metric::Euclidean)
      for (auto& e : x) e /= nx + 1e-9;
    for (int64_t j = 0; j < m; ++j) {
      auto y = neuron(b, j);
      double ny = 0;
      for (double e : y) ny += e * e;
      ny = std::sqrt(ny);
      if (o.unit_norm && o.metric == Metric::Euclidean)
        for (auto& e : y) e /= ny + 1e-9;
      double v;
      if (o.metric == Metric::Euclidean) {
        double d2 = 0;
        for (int64_t t = 0; t < a.dim; ++t) d2 += (x[t] - y[t]) * (x[t] - y[t]);
        v = o.squared ? d2 : std::sqrt(d2);
      } else {
        double dot = 0;
        for (int64_t t = 0; t < a.dim; ++t) dot += x[t] * y[t];
        v = nx * ny > 0 ? std::max(0.0, 1.0 - dot / (nx * ny)) : 1.0;
      }
      c[i * m + j] = v;
    }
  }
  double div = 1;
  if (o.normalize == Normalization::Log) {
    for (auto& v : c) v = std::log1p(v);
  } else if (o.normalize == Normalization::Max) {
    div = *std::max_element(c.begin(), c.end());
  } else if (o.normalize == Normalization::Mean) {
    div = 0;
    for (double v : c) div += v;
    div /= double(c.size());
  } else if (o.normalize == Normalization::Median) {
    auto s = c;
    std::sort(s.begin(), s.end());
    div = s[(s.size() - 1) / 2];
  }
  if (div > 0)
    for (auto& v : c) v /= div;
  *pct = 0;
  if (o.clip) {
    const double lo = o.clip_reg * o.clip_min, hi = o.clip_reg * o.clip_max;
    double count = 0;
    for (auto& v : c) {
      count += v >= hi;
      v = std::min(std::max(v, lo), hi);
    }
    *pct = 100.0 * count / double(c.size());
  }
  return c;
}

struct Case {
  std::vector<float> xa, xb;
  NeuronView a, b;
};

// Activations-like data: neurons of b are noisy copies of neurons of a plus new ones,
// so the matrix has both near-zero and large distances.
Case make_case(int64_t dim, int64_t na, int64_t nb, bool columns, int64_t pad, uint32_t seed) {
  Case c;
  auto base = random_vector(static_cast<size_t>(dim * (na + nb)), seed);
  auto noise = random_vector(static_cast<size_t>(dim * nb), seed + 1, -0.05f, 0.05f);
  auto at = [&](std::vector<float>& buf, int64_t count, int64_t k, int64_t t) -> float& {
    return columns ? buf[t * (count + pad) + k] : buf[k * (dim + pad) + t];
  };
  const int64_t size_a = columns ? dim * (na + pad) : na * (dim + pad);
  const int64_t size_b = columns ? dim * (nb + pad) : nb * (dim + pad);
  c.xa.assign(static_cast<size_t>(size_a), 7.0f);  // padding must be ignored
  c.xb.assign(static_cast<size_t>(size_b), -7.0f);
  for (int64_t k = 0; k < na; ++k)
    for (int64_t t = 0; t < dim; ++t) at(c.xa, na, k, t) = base[k * dim + t] * (1.0f + 0.1f * float(k % 5));
  for (int64_t k = 0; k < nb; ++k)
    for (int64_t t = 0; t < dim; ++t)
      at(c.xb, nb, k, t) = k % 2 == 0 && k / 2 < na ? at(c.xa, na, k / 2, t) + noise[k * dim + t]
                                                   : base[(na + k) * dim + t];
  c.a = columns ? NeuronView::of_columns(c.xa.data(), dim, na, na + pad)
                : NeuronView::of_rows(c.xa.data(), na, dim, dim + pad);
  c.b = columns ? NeuronView::of_columns(c.xb.data(), dim, nb, nb + pad)
                : NeuronView::of_rows(c.xb.data(), nb, dim, dim + pad);
  return c;
}

void check_against_brute_force(const Case& c, const CostOptions& o, const char* what, double rel_tol = 1e-7) {
  const int64_t n = c.a.count, m = c.b.count;
  const int64_t ldo = m + 3;
  std::vector<double> out(static_cast<size_t>(n * ldo), -1.0);
  auto info = ot::cost_matrix(c.a, c.b, o, out.data(), ldo);
  double pct_ref;
  auto ref = brute_force(c.a, c.b, o, &pct_ref);
  double scale = 0;
  for (double v : ref) scale = std::max(scale, std::fabs(v));
  double worst = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) worst = std::max(worst, std::fabs(out[i * ldo + j] - ref[i * m + j]));
  // sqrt near 0 turns cancellation in |a|^2 + |b|^2 - 2ab into ~1e-8 of the scale.
  const double tol = rel_tol * std::max(scale, 1e-300);
  if (!(worst <= tol)) {
    char buf[300];
    std::snprintf(buf, sizeof buf, "%s metric=%d norm=%d squared=%d clip=%d unit=%d: max error %.3g (scale %.3g)", what,
                  int(o.metric), int(o.normalize), int(o.squared), int(o.clip), int(o.unit_norm), worst, scale);
    record_failure(__FILE__, __LINE__, buf);
  }
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = m; j < ldo; ++j) CHECK(out[i * ldo + j] == -1.0);  // padding untouched
  if (o.clip) CHECK_NEAR(info.percent_clipped, pct_ref, 1e-9);
}

TEST("ot cost: every metric x normalisation x squared x clip against float64 brute force") {
  const Metric metrics[] = {Metric::Euclidean, Metric::Cosine};
  const Normalization norms[] = {Normalization::None, Normalization::Log, Normalization::Max, Normalization::Median,
                                 Normalization::Mean};
  int layout = 0;
  for (bool columns : {true, false}) {
    Case c = make_case(37, 11, 16, columns, columns ? 2 : 5, 100 + layout++);
    for (Metric metric : metrics)
      for (Normalization norm : norms)
        for (bool squared : {false, true})
          for (bool clip : {false, true})
            for (bool unit : {false, true}) {
              CostOptions o;
              o.metric = metric;
              o.normalize = norm;
              o.squared = squared;
              o.unit_norm = unit;
              o.clip = clip;
              o.clip_reg = 0.5;
              o.clip_min = 0.2;
              o.clip_max = 1.2;
              check_against_brute_force(c, o, columns ? "columns" : "rows");
            }
  }
}

TEST("ot cost: general strides and mixed layouts") {
  // a: neuron k, feature t at 3k + 40t (neither stride 1); b as plain rows.
  const int64_t na = 9, nb = 6, dim = 13;
  auto xa = random_vector(static_cast<size_t>(40 * dim), 5);
  auto xb = random_vector(static_cast<size_t>(nb * dim), 6);
  NeuronView a{xa.data(), na, dim, 3, 40};
  NeuronView b = NeuronView::of_rows(xb.data(), nb, dim);
  CostOptions o;
  o.squared = true;
  Case c{{}, {}, a, b};
  check_against_brute_force(c, o, "strided");
  o.metric = Metric::Cosine;
  check_against_brute_force(c, o, "strided");
}

TEST("ot cost: many features (several slices) on the BLAS and portable Gram paths") {
  // A slice holds 256 features when a side is wide (1100 neurons: 3 slices of 700) and
  // up to 2^18 / neurons when both are narrow (40 neurons: 2 slices of 7000).
  for (const auto& [dim, na] : {std::pair<int64_t, int64_t>{700, 1100}, {7000, 40}}) {
    Case c = make_case(dim, na, 33, true, 0, 77);
    CostOptions o;
    o.normalize = Normalization::Max;
    check_against_brute_force(c, o, "blas");
    cpu::set_gemm_path(cpu::GemmPath::Blocked);
    check_against_brute_force(c, o, "portable");
    o.metric = Metric::Cosine;
    check_against_brute_force(c, o, "portable");
    cpu::set_gemm_path(cpu::GemmPath::Auto);
  }
}

TEST("ot cost: float32 Gram products (precision float32) on every layout, metric and normalisation") {
  // float32 products carry ~1e-7 of |a||b| each; after sqrt near 0 that is up to
  // ~3e-4 of the scale for these sizes, still far below the gaps between distinct neurons.
  const Normalization norms[] = {Normalization::None, Normalization::Max, Normalization::Median};
  int layout = 0;
  for (bool columns : {true, false}) {
    Case c = make_case(300, 23, 17, columns, columns ? 3 : 2, 300 + layout++);
    for (Metric metric : {Metric::Euclidean, Metric::Cosine})
      for (Normalization norm : norms)
        for (bool squared : {false, true}) {
          CostOptions o;
          o.gram_f32 = true;
          o.metric = metric;
          o.normalize = norm;
          o.squared = squared;
          check_against_brute_force(c, o, columns ? "f32 columns" : "f32 rows", squared ? 1e-5 : 1e-3);
        }
  }
  // A side strided in both directions is copied, and a padded row layout read in place.
  const int64_t na = 9, nb = 6, dim = 13;
  auto xa = random_vector(static_cast<size_t>(40 * dim), 5);
  auto xb = random_vector(static_cast<size_t>(nb * (dim + 4)), 6);
  Case strided{{}, {}, NeuronView{xa.data(), na, dim, 3, 40}, NeuronView::of_rows(xb.data(), nb, dim, dim + 4)};
  CostOptions o;
  o.gram_f32 = true;
  o.squared = true;
  check_against_brute_force(strided, o, "f32 strided", 1e-5);
  Case swapped{{}, {}, strided.b, strided.a};
  check_against_brute_force(swapped, o, "f32 strided", 1e-5);
}

TEST("ot cost: near-duplicate neurons keep 1e-5 relative accuracy (float64 accumulation)") {
  // b = a + 1e-4 noise over 2000 features: |a|^2 ~ 670 while |a - b|^2 ~ 7e-6.
  const int64_t dim = 2000, n = 5;
  auto xa = random_vector(static_cast<size_t>(dim * n), 8);
  auto eps = random_vector(static_cast<size_t>(dim * n), 9, -1e-4f, 1e-4f);
  std::vector<float> xb(xa.size());
  for (size_t k = 0; k < xa.size(); ++k) xb[k] = xa[k] + eps[k];
  NeuronView a = NeuronView::of_columns(xa.data(), dim, n), b = NeuronView::of_columns(xb.data(), dim, n);
  for (bool squared : {false, true}) {
    CostOptions o;
    o.squared = squared;
    std::vector<double> out(static_cast<size_t>(n * n));
    ot::cost_matrix(a, b, o, out.data(), n);
    double pct;
    auto ref = brute_force(a, b, o, &pct);
    for (int64_t i = 0; i < n; ++i) CHECK_NEAR(out[i * n + i] / ref[i * n + i], 1.0, 1e-5);
  }
}

TEST("ot cost: reference edge semantics") {
  // Lower median (torch.median) of an even count; max of an all-zero matrix leaves it as is.
  std::vector<float> xa = {0, 0, 1, 0, 3, 0}, xb = {0, 0, 2, 0};
  NeuronView a = NeuronView::of_rows(xa.data(), 3, 2), b = NeuronView::of_rows(xb.data(), 2, 2);
  CostOptions o;
  o.squared = true;
  o.normalize = Normalization::Median;
  std::vector<double> out(6);
  auto info = ot::cost_matrix(a, b, o, out.data(), 2);
  // squared distances: [0 4; 1 1; 9 1] -> sorted 0 1 1 1 4 9 -> lower median 1
  CHECK_NEAR(info.scale, 1.0, 0);
  CHECK_NEAR(out[1], 4.0, 0);
  std::vector<float> zeros(4, 0.0f);
  NeuronView z = NeuronView::of_rows(zeros.data(), 2, 2);
  o.normalize = Normalization::Max;
  std::vector<double> zout(4, 5.0);
  info = ot::cost_matrix(z, z, o, zout.data(), 2);
  for (double v : zout) CHECK(v == 0.0);
  CHECK(info.scale == 1.0);
  // A zero vector is at cosine distance 1 from everything (no NaN).
  o.metric = Metric::Cosine;
  o.normalize = Normalization::None;
  ot::cost_matrix(z, b, o, zout.data(), 2);
  for (double v : zout) CHECK(v == 1.0);
  // clip_min * reg above clip_max * reg: every entry becomes the upper bound (torch.clamp).
  o.metric = Metric::Euclidean;
  o.clip = true;
  o.clip_reg = 0.01;
  o.clip_min = 5.0;
  o.clip_max = 0.0;
  info = ot::cost_matrix(a, b, o, out.data(), 2);
  for (double v : out) CHECK(v == 0.0);
  CHECK_NEAR(info.percent_clipped, 100.0, 0);
  // Mismatched feature counts are an error.
  NeuronView bad = NeuronView::of_rows(xb.data(), 1, 4);
  CHECK_THROWS(ot::cost_matrix(a, bad, o, out.data(), 1));
}

}  // namespace
}  // namespace tf::test
