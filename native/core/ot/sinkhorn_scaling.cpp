// The default Sinkhorn path: POT's `ot.sinkhorn` iterates, computed against an absorbed
// kernel so that no quantity leaves a safe floating-point range.
//
// The iterate (u, v) of POT's scheme is held as potentials f, g (cost units) and bounded
// scalings su, sv, with
//   u_i = su_i exp(f_i / reg),  v_j = sv_j exp(g_j / reg),
//   Kt_ij = exp((f_i + g_j - C_ij) / reg)      (the absorbed kernel, stored),
// so that u_i K_ij v_j = su_i Kt_ij sv_j. The updates v = b / (K^T u), u = a / (K v) become
// sv = b / (Kt^T su), su = a / (Kt sv): plain matrix-vector products, as fast as POT's,
// with the same values. Whenever a scaling leaves [1e-100, 1e100] or a product gets so
// small that underflowed kernel entries could matter (< 1e-150), that row or column is
// recomputed exactly with a log-sum-exp and its scaling absorbed into its potential
// (Kt rebuilt there); when many columns need it at once the whole kernel is rebuilt.
// For moderate reg none of this triggers and the arithmetic is POT's. Rows and columns
// without mass keep a zero scaling, as they do in POT, and a potential of -inf, so that
// their kernel entries are 0 whenever they are recomputed.
//
// One pass over Kt per iteration does the u-update and, in the same sweep, accumulates
// Kt^T su for the next v-update (and for the stopping test, whose column sums of the
// plan are sv * (Kt^T su)). Column sums go through fixed row blocks (RowBlocks), so the
// result is independent of the thread count.
#include <atomic>
#include <cmath>
#include <limits>

#include "input_checks.h"
#include "sinkhorn_internal.h"
#include "vec_math.h"

namespace tf::ot::detail {

namespace {

constexpr double kTiny = 1e-150;  // products below this are recomputed in the log domain
constexpr double kHuge = 1e100;   // scalings outside [1 / kHuge, kHuge] are absorbed
constexpr double kMaxExponent = 700.0;
constexpr double kMinusInf = -std::numeric_limits<double>::infinity();

bool scaling_ok(double s) { return s >= 1.0 / kHuge && s <= kHuge; }

class ScalingSolver final : public Solver {
 public:
  ScalingSolver(const Problem& p, double reg, double* kernel_storage)
      : p_(p),
        reg_(reg),
        inv_reg_(1.0 / reg),
        blocks_(p.n),
        k_(kernel_storage),  // rows are written before use
        f_(static_cast<size_t>(p.n), 0.0),
        g_(static_cast<size_t>(p.m), 0.0),
        su_(static_cast<size_t>(p.n), 1.0),
        sv_(static_cast<size_t>(p.m), 1.0),
        t_(static_cast<size_t>(p.m)),
        acc_(static_cast<size_t>(blocks_.count * p.m)) {}

  void start_pot() override {
    const int64_t n = p_.n, m = p_.m;
    std::fill(f_.begin(), f_.end(), 0.0);
    std::fill(g_.begin(), g_.end(), 0.0);
    std::fill(su_.begin(), su_.end(), 1.0 / double(n));
    std::fill(sv_.begin(), sv_.end(), 1.0 / double(m));
    // K = exp(-C / reg) as POT forms it, unless some entry would overflow (C < -700 reg);
    // then the first iteration starts from the log domain instead.
    const bool checked = !std::isnan(p_.c_min);
    if (checked && overflows(p_.c_min)) {
      kernel_valid_ = false;
      return;
    }
    std::vector<double> row_min(checked ? 0 : static_cast<size_t>(n));
    acc_.assign(acc_.size(), 0.0);
    for_blocks(blocks_, n, m, [&](int64_t blk) {
      double* acc = acc_.data() + blk * m;
      for (int64_t i = blocks_.begin(blk); i < blocks_.end(blk, n); ++i) {
        const double* ci = p_.c + i * m;
        double* ki = k_ + i * m;
        if (!checked) row_min[i] = vec::finite_min(ci, m);  // the row stays in cache for the exps
        vec::exp_row(ci, nullptr, 0.0, inv_reg_, ki, m);
        vec::axpy(su_[i], ki, acc, m);
      }
    });
    if (!checked) {
      double c_min = std::numeric_limits<double>::infinity();
      for (double r : row_min) c_min = std::isnan(r) ? r : std::min(c_min, r);
      // A non-finite entry: the full check names it. An overflowing entry: this kernel is
      // unusable and the log domain takes over, as above.
      if (std::isnan(c_min)) check_cost_matrix(p_.c, n, m, "sinkhorn");
      if (overflows(c_min)) {
        kernel_valid_ = false;
        return;
      }
    }
    sum_blocks(acc_.data(), blocks_.count, m, t_.data());
    kernel_valid_ = true;
  }

  void start_warm(const std::vector<double>& f, const std::vector<double>& g) override {
    const int64_t n = p_.n, m = p_.m;
    f_ = f;
    g_ = g;
    std::fill(su_.begin(), su_.end(), 1.0);
    std::fill(sv_.begin(), sv_.end(), 1.0);
    // Potentials from a converged stage make Kt close to a plan (entries <= ~1); if they
    // do not, start from the log domain.
    double worst = -std::numeric_limits<double>::infinity();
    for (int64_t i = 0; i < n; ++i) worst = std::max(worst, f_[i] + vec::max_diff(g_.data(), p_.c + i * m, m));
    if (!(worst * inv_reg_ <= kMaxExponent)) {
      kernel_valid_ = false;
      return;
    }
    acc_.assign(acc_.size(), 0.0);
    for_blocks(blocks_, n, m, [&](int64_t blk) {
      double* acc = acc_.data() + blk * m;
      for (int64_t i = blocks_.begin(blk); i < blocks_.end(blk, n); ++i) {
        double* ki = k_ + i * m;
        vec::exp_row(p_.c + i * m, g_.data(), f_[i], inv_reg_, ki, m);
        vec::axpy(1.0, ki, acc, m);
      }
    });
    sum_blocks(acc_.data(), blocks_.count, m, t_.data());
    kernel_valid_ = true;
  }

  StageResult run(const StageParams& sp, Progress& progress) override {
    StageResult res;
    for (int it = 0; it < sp.max_iter; ++it) {
      if (!kernel_valid_ || !update_v()) {
        rebuild_from_columns();
      } else {
        u_pass();
      }
      ++res.iterations;
      if (it % sp.check_every == 0) {
        res.error = marginal_error();
        if (res.error < sp.tol) {
          res.converged = true;
          break;
        }
      }
      progress.step();
    }
    res.absorptions = absorptions_ + row_fixes_.load();
    return res;
  }

  void potentials(std::vector<double>& f, std::vector<double>& g) const override {
    f.resize(f_.size());
    g.resize(g_.size());
    for (size_t i = 0; i < f_.size(); ++i) f[i] = f_[i] + reg_ * std::log(su_[i]);
    for (size_t j = 0; j < g_.size(); ++j) g[j] = g_[j] + reg_ * std::log(sv_[j]);
  }

  PlanStats write_plan(double* out) const override {
    const int64_t m = p_.m;
    if (!kernel_valid_) {  // only before the first iteration of a log-domain start
      std::vector<double> f, g;
      potentials(f, g);
      return emit_plan(p_, blocks_, out, [&](int64_t i, double* row) {
        vec::exp_row(p_.c + i * m, g.data(), f[i], inv_reg_, row, m);
      });
    }
    return emit_plan(p_, blocks_, out, [&](int64_t i, double* row) {
      vec::scale_mul(row, su_[i], k_ + i * m, sv_.data(), m);
    });
  }

 private:
  bool overflows(double c_min) const { return -c_min * inv_reg_ > kMaxExponent; }

  // sv = b / t with t = Kt^T su. Columns where t is too small to trust or sv leaves its
  // range are redone exactly; returns false when there are so many that rebuilding the
  // whole kernel is cheaper.
  bool update_v() {
    const int64_t m = p_.m;
    bad_.clear();
    for (int64_t j = 0; j < m; ++j) {
      const double t = t_[j], v = p_.b[j] / t;
      if (p_.b[j] == 0) {
        // As in POT, a column without mass keeps v = 0. Its potential goes to -inf and its
        // kernel column to 0 (once): a kernel entry there, stale or recomputed against a
        // large f_i, could otherwise be inf, and inf * 0 is a NaN in the plan.
        sv_[j] = 0.0;
        if (g_[j] != kMinusInf) {
          g_[j] = kMinusInf;
          for (int64_t i = 0; i < p_.n; ++i) k_[i * m + j] = 0.0;
        }
      } else if (t >= kTiny && scaling_ok(v)) {
        sv_[j] = v;
      } else {
        bad_.push_back(j);
      }
    }
    if (bad_.empty()) return true;
    if (int64_t(bad_.size()) > std::max<int64_t>(8, m / 32)) return false;
    fix_columns();
    return true;
  }

  // The v-update of the listed columns in the log domain, each absorbed into g_j with
  // sv_j = 1 and its kernel column recomputed.
  void fix_columns() {
    const int64_t n = p_.n, m = p_.m;
    std::vector<double> pot(static_cast<size_t>(n));
    for (int64_t i = 0; i < n; ++i) pot[i] = f_[i] + reg_ * std::log(su_[i]);
    parallel_for(int64_t(bad_.size()), 1, [&](int64_t b0, int64_t b1) {
      for (int64_t q = b0; q < b1; ++q) {
        const int64_t j = bad_[q];
        double mx = -std::numeric_limits<double>::infinity();
        for (int64_t i = 0; i < n; ++i) mx = std::max(mx, pot[i] - p_.c[i * m + j]);
        double s = 0;
        for (int64_t i = 0; i < n; ++i) s += std::exp((pot[i] - p_.c[i * m + j] - mx) * inv_reg_);
        // log (K^T u)_j = mx / reg + log s, and v_j = b_j / (K^T u)_j.
        g_[j] = reg_ * std::log(p_.b[j]) - mx - reg_ * std::log(s);
        sv_[j] = 1.0;
        for (int64_t i = 0; i < n; ++i) k_[i * m + j] = std::exp((f_[i] + g_[j] - p_.c[i * m + j]) * inv_reg_);
      }
    });
    absorptions_ += int(bad_.size());
  }

  // su = a / (Kt sv), accumulating t = Kt^T su for the next v-update. Rows go four at a
  // time so that sv and the accumulator are loaded once per four kernel rows.
  void u_pass() {
    const int64_t n = p_.n, m = p_.m;
    for_blocks(blocks_, n, m, [&](int64_t blk) {
      double* acc = acc_.data() + blk * m;
      std::fill(acc, acc + m, 0.0);
      const int64_t end = blocks_.end(blk, n);
      for (int64_t i0 = blocks_.begin(blk); i0 < end; i0 += 4) {
        const int rows = int(std::min<int64_t>(4, end - i0));
        double s[4], alpha[4];
        vec::dot_rows(k_ + i0 * m, m, rows, sv_.data(), m, s);
        for (int r = 0; r < rows; ++r) {
          const int64_t i = i0 + r;
          const double u = p_.a[i] / s[r];
          if (p_.a[i] == 0) {
            su_[i] = 0.0;  // as in POT: a row without mass gets u = 0 (and, as columns do, f_i = -inf and a zero kernel row)
            zero_row(i);
          } else if (s[r] >= kTiny && scaling_ok(u)) {
            su_[i] = u;
          } else {
            fix_row(i);
          }
          alpha[r] = su_[i];
        }
        vec::axpy_rows(alpha, k_ + i0 * m, m, rows, acc, m);
      }
    });
    sum_blocks(acc_.data(), blocks_.count, m, t_.data());
  }

  // A row without mass: potential -inf and kernel row 0 (see update_v). Row i only.
  void zero_row(int64_t i) {
    if (f_[i] == kMinusInf) return;
    f_[i] = kMinusInf;
    std::fill(k_ + i * p_.m, k_ + (i + 1) * p_.m, 0.0);
  }

  // The u-update of row i in the log domain, absorbed into f_i with su_i = 1 and the
  // kernel row recomputed. Touches only row i (safe inside the parallel u-pass).
  void fix_row(int64_t i) {
    const int64_t m = p_.m;
    std::vector<double> h(static_cast<size_t>(m));
    for (int64_t j = 0; j < m; ++j) h[j] = g_[j] + reg_ * std::log(sv_[j]);
    const double* ci = p_.c + i * m;
    const double mx = vec::max_diff(h.data(), ci, m);
    const double s = vec::sum_exp_row(ci, h.data(), -mx, inv_reg_, m);
    // log (K v)_i = mx / reg + log s, and u_i = a_i / (K v)_i.
    f_[i] = reg_ * std::log(p_.a[i]) - mx - reg_ * std::log(s);
    su_[i] = 1.0;
    vec::exp_row(ci, g_.data(), f_[i], inv_reg_, k_ + i * m, m);
    ++row_fixes_;
  }

  // A whole iteration from the log domain: the exact v-update of every column, then the
  // kernel rebuilt row by row with each row's largest entry 1 (f_i is free to choose:
  // the u-update does not depend on the old u), fused with the u-update.
  void rebuild_from_columns() {
    const int64_t n = p_.n, m = p_.m;
    std::vector<double> pot(static_cast<size_t>(n)), lse(static_cast<size_t>(m));
    for (int64_t i = 0; i < n; ++i) pot[i] = f_[i] + reg_ * std::log(su_[i]);
    column_logsumexp(p_, blocks_, pot.data(), reg_, lse.data(), acc_, colmax_);
    for (int64_t j = 0; j < m; ++j) {
      g_[j] = reg_ * (std::log(p_.b[j]) - lse[j]);  // -inf without mass: Kt column 0
      sv_[j] = p_.b[j] > 0 ? 1.0 : 0.0;
    }
    for_blocks(blocks_, n, m, [&](int64_t blk) {
      double* acc = acc_.data() + blk * m;
      std::fill(acc, acc + m, 0.0);
      for (int64_t i = blocks_.begin(blk); i < blocks_.end(blk, n); ++i) {
        const double* ci = p_.c + i * m;
        double* ki = k_ + i * m;
        f_[i] = -vec::max_diff(g_.data(), ci, m);
        const double s = vec::exp_row(ci, g_.data(), f_[i], inv_reg_, ki, m);  // >= 1
        const double u = p_.a[i] / s;
        if (p_.a[i] == 0) {
          su_[i] = 0.0;
          zero_row(i);
          continue;
        }
        if (scaling_ok(u)) {
          su_[i] = u;
        } else {
          fix_row(i);
        }
        vec::axpy(su_[i], ki, acc, m);
      }
    });
    sum_blocks(acc_.data(), blocks_.count, m, t_.data());
    kernel_valid_ = true;
    ++absorptions_;
  }

  // ||sv * t - b||_2: the column sums of the current plan against b (POT's error).
  double marginal_error() const {
    double e2 = 0;
    for (int64_t j = 0; j < p_.m; ++j) {
      const double d = sv_[j] * t_[j] - p_.b[j];
      e2 += d * d;
    }
    return std::sqrt(e2);
  }

  const Problem& p_;
  double reg_, inv_reg_;
  RowBlocks blocks_;
  double* k_;  // the absorbed kernel Kt, n x m: the plan's memory, turned into the plan at the end
  std::vector<double> f_, g_;    // absorbed potentials
  std::vector<double> su_, sv_;  // scalings relative to them
  std::vector<double> t_;        // Kt^T su for the current su
  std::vector<double> acc_, colmax_;
  std::vector<int64_t> bad_;
  bool kernel_valid_ = false;
  int absorptions_ = 0;
  std::atomic<int> row_fixes_{0};
};

}  // namespace

std::unique_ptr<Solver> make_scaling_solver(const Problem& p, double reg, double* kernel_storage) {
  return std::make_unique<ScalingSolver>(p, reg, kernel_storage);
}

}  // namespace tf::ot::detail
