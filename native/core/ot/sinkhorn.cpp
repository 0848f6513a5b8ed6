// Sinkhorn entry point: checks the inputs and runs the chosen path, optionally through an
// epsilon-scaling schedule.
#include <cmath>
#include <limits>

#include "../error.h"
#include "input_checks.h"
#include "sinkhorn_internal.h"

namespace tf::ot {

namespace {

void check_inputs(const double* a, const double* b, int64_t n, int64_t m, const SinkhornOptions& o) {
  check_sinkhorn_options(n, m, o);
  check_histogram(a, n, "sinkhorn", "a");
  check_histogram(b, m, "sinkhorn", "b");
}

}  // namespace

SinkhornResult sinkhorn(const double* a, const double* b, const double* cost, int64_t n, int64_t m,
                        const SinkhornOptions& options, double* plan, double* log_u, double* log_v, TaskContext* ctx) {
  check_inputs(a, b, n, m, options);
  SinkhornResult result;
  const double reg = options.reg;

  // Rows/columns without mass stay in the problem: POT's first v-update counts every row
  // at u = 1/n, and matching its iterates means doing the same.
  bool any_a = false, any_b = false;
  for (int64_t i = 0; i < n; ++i) any_a = any_a || a[i] > 0;
  for (int64_t j = 0; j < m; ++j) any_b = any_b || b[j] > 0;
  const bool solvable = any_a && any_b;
  // The default path checks the cost matrix while it builds its kernel (sinkhorn_scaling.cpp).
  const bool check_in_kernel_build =
      solvable && options.method == SinkhornMethod::Scaling && !options.epsilon_scaling.enabled;
  const double c_min = check_in_kernel_build ? std::numeric_limits<double>::quiet_NaN()
                                             : check_cost_matrix(cost, n, m, "sinkhorn");
  detail::Problem prob{n, m, a, b, cost, c_min};

  std::vector<double> f, g;
  if (solvable) {
    auto make = [&](double r) {
      return options.method == SinkhornMethod::LogSumExp ? detail::make_log_solver(prob, r)
                                                         : detail::make_scaling_solver(prob, r, plan);
    };
    // Epsilon scaling: stages at decreasing reg, each warm-started from the last.
    std::vector<double> stage_regs;
    if (options.epsilon_scaling.enabled) {
      const auto& e = options.epsilon_scaling;
      double start = e.reg_start;
      if (!(start > 0)) {
        start = 0;
        for (int64_t k = 0; k < n * m; ++k) start = std::max(start, std::fabs(cost[k]));
      }
      for (double r = start; r > reg * (1 + 1e-12); r *= e.factor) stage_regs.push_back(r);
    }
    detail::Progress progress{ctx, 0,
                              double(options.max_iter) +
                                  double(stage_regs.size()) * double(options.epsilon_scaling.stage_max_iter) + 1};
    bool warm = false;
    for (double r : stage_regs) {
      auto stage = make(r);
      if (warm) {
        stage->start_warm(f, g);
      } else {
        stage->start_pot();
      }
      auto sr = stage->run({options.epsilon_scaling.stage_max_iter, options.epsilon_scaling.stage_tol,
                            options.check_every},
                           progress);
      result.iterations += sr.iterations;
      result.absorptions += sr.absorptions;
      stage->potentials(f, g);
      warm = true;
    }
    auto solver = make(reg);
    if (warm) {
      solver->start_warm(f, g);
    } else {
      solver->start_pot();
    }
    auto sr = solver->run({options.max_iter, options.tol, options.check_every}, progress);
    result.iterations += sr.iterations;
    result.absorptions += sr.absorptions;
    result.converged = sr.converged;
    auto stats = solver->write_plan(plan);
    result.marginal_error = stats.marginal_error;
    result.transport_cost = stats.transport_cost;
    solver->potentials(f, g);
  } else {
    // No mass on one side: nothing can move.
    std::fill(plan, plan + n * m, 0.0);
    f.assign(static_cast<size_t>(n), -std::numeric_limits<double>::infinity());
    g.assign(static_cast<size_t>(m), -std::numeric_limits<double>::infinity());
    double e2 = 0;
    for (int64_t j = 0; j < m; ++j) e2 += b[j] * b[j];
    result.marginal_error = std::sqrt(e2);
    result.converged = result.marginal_error < options.tol;
  }
  if (log_u)
    for (int64_t i = 0; i < n; ++i) log_u[i] = f[i] / reg;
  if (log_v)
    for (int64_t j = 0; j < m; ++j) log_v[j] = g[j] / reg;
  if (ctx) ctx->progress(1, 1);
  return result;
}

}  // namespace tf::ot
