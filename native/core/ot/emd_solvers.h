// The two exact OT solvers behind tf::ot::emd (emd.cpp), which checks inputs, balances
// the marginals, picks a solver and centres the duals. Not part of the public API.
#pragma once

#include <cstdint>

#include "../task.h"

namespace tf::ot::detail {

struct ExactResult {
  int64_t iterations = 0;
  bool optimal = true;
};

// Network simplex on the complete bipartite graph of the transportation problem, any
// non-negative a (n) and b (m) with equal sums. Writes the plan (n x m, zeroed first) and
// duals u, v with C_ij - u_i - v_j >= 0 everywhere (to ~1e-13 relative) and = 0 on the
// plan's support. Stops after max_iter pivots (optimal = false then).
ExactResult network_simplex(const double* a, const double* b, const double* cost, int64_t n, int64_t m,
                            int64_t max_iter, double* plan, double* u, double* v, TaskContext* ctx);

// Jonker-Volgenant shortest augmenting paths for the n x n assignment problem; the plan is
// the optimal permutation with every entry `mass / n`. Duals as above (they do not depend
// on the mass).
ExactResult assignment(const double* cost, int64_t n, double mass, double* plan, double* u, double* v,
                       TaskContext* ctx);

}  // namespace tf::ot::detail
