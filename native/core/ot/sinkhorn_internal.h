// Pieces shared by the two Sinkhorn paths (sinkhorn_scaling.cpp, sinkhorn_log.cpp) and
// their driver (sinkhorn.cpp). Not part of the public API.
//
// Both paths run POT's iteration, v = b / (K^T u) then u = a / (K v) with K = exp(-C/reg),
// but never form u, v or K themselves: they keep potentials f, g (cost units, the
// log-domain state) so nothing overflows or underflows for small reg.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <vector>

#include "../task.h"
#include "../thread_pool.h"
#include "ot.h"
#include "vec_math.h"

namespace tf::ot::detail {

// A Sinkhorn problem. Rows and columns may have zero mass (not all of them): their
// scalings are 0 after the first update, as in POT, and their plan entries 0.
struct Problem {
  int64_t n = 0, m = 0;
  const double* a = nullptr;  // n
  const double* b = nullptr;  // m
  const double* c = nullptr;  // n x m, packed
  // Its smallest entry, or NaN when the entries have not been checked yet: the scaling
  // path's POT start then checks them (finite, smallest) in the sweep that builds its
  // kernel, instead of reading the whole matrix once more beforehand.
  double c_min = 0;
};

// Rows grouped into fixed blocks. Column sums are accumulated per block and the blocks
// added in order, so results do not depend on the thread count or on scheduling.
struct RowBlocks {
  int64_t rows_per_block, count;
  explicit RowBlocks(int64_t n)
      : rows_per_block(std::max<int64_t>(32, (n + 63) / 64)), count((n + rows_per_block - 1) / rows_per_block) {}
  int64_t begin(int64_t block) const { return block * rows_per_block; }
  int64_t end(int64_t block, int64_t n) const { return std::min(n, (block + 1) * rows_per_block); }
};

// Runs fn(block) for every block, in parallel unless the whole problem is too small for
// threads to pay off: a pass over 2^18 kernel entries takes ~50 us on one core, while
// waking the pool costs ~10-20 us.
template <typename Fn>
void for_blocks(const RowBlocks& blocks, int64_t n, int64_t m, const Fn& fn) {
  const bool small = n * m < (int64_t(1) << 18);
  parallel_for(blocks.count, small ? blocks.count : 1, [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) fn(blk);
  });
  (void)n;
}

// out[j] = sum over blocks of acc[blk * m + j], blocks added in order.
void sum_blocks(const double* acc, int64_t blocks, int64_t m, double* out);

// out[j] = log sum_i exp((p_i - C_ij) / reg): the column log-sum-exp with a max shift,
// two passes over C (column maxima, then shifted sums). acc needs blocks.count * m.
void column_logsumexp(const Problem& p, const RowBlocks& blocks, const double* pot, double reg, double* out,
                      std::vector<double>& acc, std::vector<double>& colmax);

// What the driver reports about the returned plan.
struct PlanStats {
  double marginal_error = 0;  // ||column sums - b||_2
  double transport_cost = 0;  // <plan, C>
};

// Writes the plan row by row (row_fn(i, out + i * m)) and measures it in the same sweep,
// while each row is still in cache.
template <typename RowFn>
PlanStats emit_plan(const Problem& p, const RowBlocks& blocks, double* out, const RowFn& row_fn) {
  const int64_t n = p.n, m = p.m;
  std::vector<double> acc(static_cast<size_t>(blocks.count * m)), cost_part(static_cast<size_t>(blocks.count));
  for_blocks(blocks, n, m, [&](int64_t blk) {
    double* col = acc.data() + blk * m;
    std::fill(col, col + m, 0.0);
    double c = 0;
    for (int64_t i = blocks.begin(blk); i < blocks.end(blk, n); ++i) {
      double* row = out + i * m;
      row_fn(i, row);
      c += vec::colsum_dot(row, p.c + i * m, col, m);
    }
    cost_part[blk] = c;
  });
  std::vector<double> colsum(static_cast<size_t>(m));
  sum_blocks(acc.data(), blocks.count, m, colsum.data());
  PlanStats st;
  double e2 = 0;
  for (int64_t j = 0; j < m; ++j) e2 += (colsum[j] - p.b[j]) * (colsum[j] - p.b[j]);
  st.marginal_error = std::sqrt(e2);
  for (double c : cost_part) st.transport_cost += c;
  return st;
}

struct StageResult {
  int iterations = 0;
  bool converged = false;
  double error = 0.0;  // the last marginal error measured by the stopping test
  int absorptions = 0;
};

// Reports iteration progress across the stages of one solve.
struct Progress {
  TaskContext* ctx = nullptr;
  double done = 0, total = 1;
  void step() {
    done += 1;
    if (ctx) {
      ctx->check_cancelled();
      ctx->progress(std::min(done, total - 0.5), total);
    }
  }
};

struct StageParams {
  int max_iter;
  double tol;
  int check_every;
};

// The common shape of both paths. A solver is made for one reg; epsilon scaling makes one
// per stage and passes the potentials on.
class Solver {
 public:
  virtual ~Solver() = default;
  // POT's start: u = 1/n, v = 1/m.
  virtual void start_pot() = 0;
  // Warm start from potentials (cost units) of an earlier stage, with unit scalings.
  virtual void start_warm(const std::vector<double>& f, const std::vector<double>& g) = 0;
  virtual StageResult run(const StageParams& params, Progress& progress) = 0;
  // The full potentials reg * log u and reg * log v of the current iterate.
  virtual void potentials(std::vector<double>& f, std::vector<double>& g) const = 0;
  // Writes the plan diag(u) K diag(v) (n x m packed) and measures it. `out` may be the
  // scaling path's kernel storage: the plan then replaces the kernel in place.
  virtual PlanStats write_plan(double* out) const = 0;
};

// The scaling path keeps its n x m kernel in `kernel_storage`, which the driver passes as
// the plan's own memory: one n x m buffer per solve instead of two, and no separate pass
// to copy the kernel into the plan.
std::unique_ptr<Solver> make_scaling_solver(const Problem& p, double reg, double* kernel_storage);
std::unique_ptr<Solver> make_log_solver(const Problem& p, double reg);

}  // namespace tf::ot::detail
