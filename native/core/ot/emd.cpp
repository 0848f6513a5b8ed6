// Exact OT entry point: input checks, POT's mass balancing, solver choice, dual centring.
#include <cmath>
#include <vector>

#include "../error.h"
#include "emd_solvers.h"
#include "input_checks.h"
#include "ot.h"

namespace tf::ot {

namespace {

// POT asserts the sums agree to 7 decimals (np.testing.assert_almost_equal), then scales
// b to a's sum; the same test, relative for masses above 1.
constexpr double kMassTolerance = 1.5e-7;
// a and b count as uniform when every entry is within this relative distance of the mean.
constexpr double kUniformTolerance = 1e-12;

bool uniform(const double* x, int64_t k, double sum) {
  const double mean = sum / double(k);
  for (int64_t i = 0; i < k; ++i)
    if (std::fabs(x[i] - mean) > kUniformTolerance * mean) return false;
  return true;
}

}  // namespace

EmdResult emd(const double* a, const double* b, const double* cost, int64_t n, int64_t m, const EmdOptions& options,
              double* plan, double* u, double* v, TaskContext* ctx) {
  TF_CHECK(n >= 0 && m >= 0, "emd: negative problem size");
  TF_CHECK(options.max_iter >= 0, "emd: max_iter must be >= 0");
  const double sa = check_histogram(a, n, "emd", "a");
  const double sb = check_histogram(b, m, "emd", "b");
  check_cost_matrix(cost, n, m, "emd");
  EmdResult result;
  if (n == 0 || m == 0) {
    TF_CHECK(sa == 0 && sb == 0, "emd: an empty side cannot balance a non-zero mass");
    result.optimal = true;
    return result;
  }
  TF_CHECK(std::fabs(sa - sb) <= kMassTolerance * std::max({1.0, sa, sb}),
           "emd: a and b must have the same total mass (sum(a) = " + std::to_string(sa) +
               ", sum(b) = " + std::to_string(sb) + ")");

  // b scaled to a's mass, as POT does (b * sum(a) / sum(b)).
  std::vector<double> bb(b, b + m);
  if (sa != sb && sb > 0) {
    for (auto& x : bb) x = x * sa / sb;
    result.mass_rescaled = true;
  }

  bool use_assignment = options.solver == EmdSolver::Assignment;
  if (options.solver == EmdSolver::Auto)
    use_assignment = n == m && sa > 0 && uniform(a, n, sa) && uniform(bb.data(), m, sa);
  if (use_assignment) {
    TF_CHECK(n == m && sa > 0 && uniform(a, n, sa) && uniform(bb.data(), m, sa),
             "emd: the assignment solver needs a square problem with uniform marginals");
  }

  detail::ExactResult r;
  if (sa == 0) {
    std::fill(plan, plan + n * m, 0.0);
    std::fill(u, u + n, 0.0);
    std::fill(v, v + m, 0.0);
  } else if (use_assignment) {
    r = detail::assignment(cost, n, sa, plan, u, v, ctx);
  } else {
    r = detail::network_simplex(a, bb.data(), cost, n, m, options.max_iter, plan, u, v, ctx);
  }
  result.solver = use_assignment ? EmdSolver::Assignment : EmdSolver::NetworkSimplex;
  result.iterations = r.iterations;
  result.optimal = r.optimal;

  if (options.center_dual) {
    // POT's center_ot_dual: the constant c with a.(u + c) = b.(v - c).
    double au = 0, bv = 0;
    for (int64_t i = 0; i < n; ++i) au += a[i] * u[i];
    for (int64_t j = 0; j < m; ++j) bv += bb[j] * v[j];
    const double shift = (sa + sa) > 0 ? (bv - au) / (sa + sa) : 0.0;
    for (int64_t i = 0; i < n; ++i) u[i] += shift;
    for (int64_t j = 0; j < m; ++j) v[j] -= shift;
  }

  double total = 0;
  for (int64_t k = 0; k < n * m; ++k) total += plan[k] * cost[k];
  result.transport_cost = total;
  if (ctx) ctx->progress(1, 1);
  return result;
}

}  // namespace tf::ot
