#include "input_checks.h"

#include <atomic>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "../error.h"
#include "../thread_pool.h"
#include "vec_math.h"

namespace tf::ot {

namespace {

void check_view(const NeuronView& v, const char* which) {
  TF_CHECK(v.count >= 0 && v.dim >= 0, std::string("cost_matrix: ") + which + " has a negative size");
  TF_CHECK(v.count == 0 || v.dim == 0 || v.data != nullptr, std::string("cost_matrix: ") + which + " has no data");
  TF_CHECK(v.neuron_stride >= 0 && v.feature_stride >= 0,
           std::string("cost_matrix: ") + which + " has negative strides");
}

}  // namespace

void check_sinkhorn_options(int64_t n, int64_t m, const SinkhornOptions& o) {
  TF_CHECK(n >= 0 && m >= 0, "sinkhorn: negative problem size");
  TF_CHECK(std::isfinite(o.reg) && o.reg > 0, "sinkhorn: reg must be a positive finite number");
  TF_CHECK(o.max_iter >= 0, "sinkhorn: max_iter must be >= 0");
  TF_CHECK(o.tol >= 0, "sinkhorn: tol must be >= 0");
  TF_CHECK(o.check_every >= 1, "sinkhorn: check_every must be >= 1");
  if (o.epsilon_scaling.enabled) {
    const auto& e = o.epsilon_scaling;
    TF_CHECK(e.factor > 0 && e.factor < 1, "sinkhorn: epsilon scaling factor must be in (0, 1)");
    TF_CHECK(std::isfinite(e.reg_start), "sinkhorn: epsilon scaling reg_start must be finite");
    TF_CHECK(e.stage_max_iter >= 0 && e.stage_tol >= 0, "sinkhorn: bad epsilon scaling stage limits");
  }
}

void check_cost_matrix_args(const NeuronView& a, const NeuronView& b, const CostOptions& options, int64_t ldo) {
  check_view(a, "a");
  check_view(b, "b");
  TF_CHECK(a.dim == b.dim, "cost_matrix: a and b must have the same number of features (" + std::to_string(a.dim) +
                               " vs " + std::to_string(b.dim) + ")");
  TF_CHECK(ldo >= b.count, "cost_matrix: output row stride is smaller than b's neuron count");
  TF_CHECK(!options.clip || (std::isfinite(options.clip_reg) && std::isfinite(options.clip_min) &&
                             std::isfinite(options.clip_max)),
           "cost_matrix: clip bounds must be finite");
}

double check_histogram(const double* x, int64_t k, const char* fn, const char* name) {
  double sum = 0;
  for (int64_t i = 0; i < k; ++i) {
    TF_CHECK(std::isfinite(x[i]) && x[i] >= 0, std::string(fn) + ": " + name + " must be finite and non-negative (" +
                                                   name + "[" + std::to_string(i) + "] = " +
                                                   std::to_string(x[i]) + ")");
    sum += x[i];
  }
  return sum;
}

void check_finite_features(const float* x, int64_t k, const char* fn, const char* name) {
  std::atomic<int64_t> first{k};
  parallel_for(k, 1 << 16, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i)
      if (!std::isfinite(x[i])) {
        int64_t seen = first.load();
        while (i < seen && !first.compare_exchange_weak(seen, i)) {}
        return;
      }
  });
  const int64_t i = first.load();
  if (i == k) return;
  const std::string value = std::isnan(x[i]) ? "NaN" : x[i] > 0 ? "Infinity" : "-Infinity";  // as JavaScript prints them
  throw Error(std::string(fn) + ": " + name + "[" + std::to_string(i) + "] is " + value + "; features must be finite");
}

double check_cost_matrix(const double* c, int64_t n, int64_t m, const char* fn) {
  std::vector<double> row_min(static_cast<size_t>(n));
  parallel_for(n, std::max<int64_t>(1, 65536 / std::max<int64_t>(m, 1)), [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) row_min[i] = vec::finite_min(c + i * m, m);
  });
  double mn = std::numeric_limits<double>::infinity();
  for (int64_t i = 0; i < n; ++i) {
    if (std::isnan(row_min[i])) {
      for (int64_t j = 0; j < m; ++j)
        TF_CHECK(std::isfinite(c[i * m + j]), std::string(fn) + ": the cost matrix has a non-finite entry at (" +
                                                  std::to_string(i) + ", " + std::to_string(j) + ")");
    }
    mn = std::min(mn, row_min[i]);
  }
  return mn;
}

}  // namespace tf::ot
