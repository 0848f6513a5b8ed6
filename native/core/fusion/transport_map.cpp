// Cost matrix -> OT plan -> transport map, with the diagnostics the fusion report shows.
#include <algorithm>
#include <cmath>
#include <vector>

#include "../error.h"
#include "../thread_pool.h"
#include "fusion.h"

namespace tf::fusion {

namespace {

double permutation_score(const double* plan, int64_t n, int64_t m) {
  double total = 0.0;
  int64_t rows = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double* row = plan + i * m;
    double sum = 0.0, best = 0.0;
    for (int64_t j = 0; j < m; ++j) {
      sum += row[j];
      best = std::max(best, row[j]);
    }
    if (sum > 0.0) {
      total += best / sum;
      ++rows;
    }
  }
  return rows ? total / double(rows) : 0.0;
}

}  // namespace

MapDiagnostics transport_map(const ot::NeuronView& a, const ot::NeuronView& b, const MapOptions& options, float* map,
                             TaskContext* ctx) {
  TF_CHECK(a.count > 0 && b.count > 0, "transport_map: both sides need at least one neuron");
  TF_CHECK(a.dim == b.dim, "transport_map: the two sides' neurons have different numbers of features (" +
                               std::to_string(a.dim) + " and " + std::to_string(b.dim) + ")");
  const int64_t n = a.count, m = b.count;
  std::vector<double> cost(size_t(n * m));
  ot::CostInfo info = ot::cost_matrix(a, b, options.cost, cost.data(), m, ctx);
  if (ctx) ctx->check_cancelled();

  std::vector<double> mu(size_t(n), 1.0 / double(n)), nu(size_t(m), 1.0 / double(m));
  std::vector<double> plan(size_t(n * m));
  MapDiagnostics d;
  d.cost_scale = info.scale;
  if (options.solver == Solver::Sinkhorn) {
    ot::SinkhornResult r = ot::sinkhorn(mu.data(), nu.data(), cost.data(), n, m, options.sinkhorn, plan.data(),
                                        nullptr, nullptr, ctx);
    d.solver = "sinkhorn";
    d.iterations = r.iterations;
    d.marginal_error = r.marginal_error;
    d.converged = r.converged;
    d.transport_cost = r.transport_cost;
  } else {
    ot::EmdOptions eo;
    std::vector<double> u(static_cast<size_t>(n)), v(static_cast<size_t>(m));  // duals: not needed here, but the solver writes them
    ot::EmdResult r = ot::emd(mu.data(), nu.data(), cost.data(), n, m, eo, plan.data(), u.data(), v.data(), ctx);
    d.solver = r.solver == ot::EmdSolver::Assignment ? "emd (assignment)" : "emd (network simplex)";
    d.iterations = r.iterations;
    d.converged = r.optimal;
    d.transport_cost = r.transport_cost;
    // Exact solvers meet the marginals up to rounding; report the measured error anyway.
    double err = 0.0;
    for (int64_t j = 0; j < m; ++j) {
      double s = 0.0;
      for (int64_t i = 0; i < n; ++i) s += plan[size_t(i * m + j)];
      err += (s - nu[size_t(j)]) * (s - nu[size_t(j)]);
    }
    d.marginal_error = std::sqrt(err);
  }
  d.permutation_score = permutation_score(plan.data(), n, m);
  const double scale = double(n);
  parallel_for(n * m, 1 << 15, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) map[i] = float(plan[size_t(i)] * scale);
  });
  return d;
}

}  // namespace tf::fusion
