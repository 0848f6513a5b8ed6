// The log-sum-exp Sinkhorn path (POT's `sinkhorn_log` iterates) and the log-domain
// reductions the scaling path falls back on.
//
// With potentials f = reg log u and g = reg log v, one iteration is
//   g_j = reg log b_j - reg LSE_i((f_i - C_ij) / reg)
//   f_i = reg log a_i - reg LSE_j((g_j - C_ij) / reg)
// each LSE shifted by its maximum, so any reg > 0 is safe.
#include <cmath>
#include <limits>

#include "sinkhorn_internal.h"
#include "vec_math.h"

namespace tf::ot::detail {

void sum_blocks(const double* acc, int64_t blocks, int64_t m, double* out) {
  constexpr int64_t kColumns = 512;
  const int64_t chunks = (m + kColumns - 1) / kColumns;
  // Below ~100k additions waking the pool costs more than it saves.
  const bool small = blocks * m < (int64_t(1) << 17);
  parallel_for(chunks, small ? chunks : 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      const int64_t j0 = c * kColumns, j1 = std::min(m, j0 + kColumns);
      std::copy(acc + j0, acc + j1, out + j0);
      for (int64_t blk = 1; blk < blocks; ++blk) {
        const double* row = acc + blk * m;
        for (int64_t j = j0; j < j1; ++j) out[j] += row[j];
      }
    }
  });
}

void column_logsumexp(const Problem& p, const RowBlocks& blocks, const double* pot, double reg, double* out,
                      std::vector<double>& acc, std::vector<double>& colmax) {
  const int64_t n = p.n, m = p.m;
  const double inv_reg = 1.0 / reg;
  acc.resize(static_cast<size_t>(blocks.count * m));
  colmax.resize(static_cast<size_t>(m));
  // Pass 1: column maxima of pot_i - C_ij, per block then across blocks.
  for_blocks(blocks, n, m, [&](int64_t blk) {
    double* mx = acc.data() + blk * m;
    std::fill(mx, mx + m, -std::numeric_limits<double>::infinity());
    for (int64_t i = blocks.begin(blk); i < blocks.end(blk, n); ++i) vec::max_update(mx, pot[i], p.c + i * m, m);
  });
  std::copy(acc.begin(), acc.begin() + m, colmax.begin());
  for (int64_t blk = 1; blk < blocks.count; ++blk)
    for (int64_t j = 0; j < m; ++j) colmax[j] = std::max(colmax[j], acc[blk * m + j]);
  // Pass 2: sums of exp((pot_i - C_ij - max_j) / reg), each term <= 1 and one of them 1.
  for_blocks(blocks, n, m, [&](int64_t blk) {
    double* s = acc.data() + blk * m;
    std::fill(s, s + m, 0.0);
    for (int64_t i = blocks.begin(blk); i < blocks.end(blk, n); ++i)
      vec::sum_exp_update(s, pot[i], p.c + i * m, colmax.data(), inv_reg, m);
  });
  sum_blocks(acc.data(), blocks.count, m, out);
  for (int64_t j = 0; j < m; ++j) out[j] = colmax[j] * inv_reg + std::log(out[j]);
}

namespace {

class LogSolver final : public Solver {
 public:
  LogSolver(const Problem& p, double reg)
      : p_(p),
        reg_(reg),
        inv_reg_(1.0 / reg),
        blocks_(p.n),
        f_(static_cast<size_t>(p.n)),
        g_(static_cast<size_t>(p.m)),
        lse_(static_cast<size_t>(p.m)),
        colsum_(static_cast<size_t>(p.m)) {}

  // POT's sinkhorn_log starts from log u = 0; plans equal those from u = 1/n after the
  // first iteration, since the v-update absorbs any constant factor of u.
  void start_pot() override {
    std::fill(f_.begin(), f_.end(), 0.0);
    std::fill(g_.begin(), g_.end(), 0.0);
  }

  void start_warm(const std::vector<double>& f, const std::vector<double>& g) override {
    f_ = f;
    g_ = g;
  }

  StageResult run(const StageParams& sp, Progress& progress) override {
    StageResult res;
    const int64_t n = p_.n, m = p_.m;
    for (int it = 0; it < sp.max_iter; ++it) {
      // v-update.
      column_logsumexp(p_, blocks_, f_.data(), reg_, lse_.data(), acc_, colmax_);
      for (int64_t j = 0; j < m; ++j) g_[j] = reg_ * (std::log(p_.b[j]) - lse_[j]);
      // u-update, with the plan's column sums accumulated on the way when the stopping
      // test runs this iteration.
      const bool check = it % sp.check_every == 0;
      if (check) acc_.assign(static_cast<size_t>(blocks_.count * m), 0.0);
      for_blocks(blocks_, n, m, [&](int64_t blk) {
        std::vector<double> row(check ? size_t(m) : 0);
        for (int64_t i = blocks_.begin(blk); i < blocks_.end(blk, n); ++i) {
          const double* ci = p_.c + i * m;
          const double mx = vec::max_diff(g_.data(), ci, m);
          const double s = vec::sum_exp_row(ci, g_.data(), -mx, inv_reg_, m);
          f_[i] = reg_ * std::log(p_.a[i]) - mx - reg_ * std::log(s);
          if (check) {
            vec::exp_row(ci, g_.data(), f_[i], inv_reg_, row.data(), m);
            vec::axpy(1.0, row.data(), acc_.data() + blk * m, m);
          }
        }
      });
      ++res.iterations;
      if (check) {
        sum_blocks(acc_.data(), blocks_.count, m, colsum_.data());
        double e2 = 0;
        for (int64_t j = 0; j < m; ++j) e2 += (colsum_[j] - p_.b[j]) * (colsum_[j] - p_.b[j]);
        res.error = std::sqrt(e2);
        if (res.error < sp.tol) {
          res.converged = true;
          break;
        }
      }
      progress.step();
    }
    return res;
  }

  void potentials(std::vector<double>& f, std::vector<double>& g) const override {
    f = f_;
    g = g_;
  }

  PlanStats write_plan(double* out) const override {
    const int64_t m = p_.m;
    return emit_plan(p_, blocks_, out, [&](int64_t i, double* row) {
      vec::exp_row(p_.c + i * m, g_.data(), f_[i], inv_reg_, row, m);
    });
  }

 private:
  const Problem& p_;
  double reg_, inv_reg_;
  RowBlocks blocks_;
  std::vector<double> f_, g_, lse_, colsum_, acc_, colmax_;
};

}  // namespace

std::unique_ptr<Solver> make_log_solver(const Problem& p, double reg) { return std::make_unique<LogSolver>(p, reg); }

}  // namespace tf::ot::detail
