// Jonker-Volgenant assignment (shortest augmenting paths with the JV initialisation) for
// square problems with uniform marginals, where exact OT is a permutation.
//
// Column prices v are kept dual feasible throughout (C_ij - v_j >= u_i = the row's
// minimum reduced cost), so the final u_i = C_{i,x_i} - v_{x_i} and v are optimal duals.
//   1. column reduction: v_j = min_i C_ij, each column offered to its cheapest row;
//   2. reduction transfer: a row that got exactly one column lowers that column's price
//      by its margin over the row's second-best column;
//   3. augmenting row reduction (two rounds): a free row takes its best column, lowering
//      its price so the row is indifferent to its second best, and evicts the owner;
//   4. a Dijkstra shortest augmenting path from each row still free.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../thread_pool.h"
#include "emd_solvers.h"

namespace tf::ot::detail {

namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();

class Assignment {
 public:
  Assignment(const double* c, int64_t n)
      : c_(c), n_(n), x_(static_cast<size_t>(n), -1), y_(static_cast<size_t>(n), -1), v_(static_cast<size_t>(n), 0.0) {}

  int64_t solve(TaskContext* ctx) {
    ctx_ = ctx;
    std::vector<int64_t> free_rows = column_reduction();
    for (int round = 0; round < 2 && !free_rows.empty(); ++round) free_rows = augmenting_row_reduction(free_rows);
    int64_t paths = 0;
    for (int64_t f : free_rows) {
      // Each path is O(n^2) on a dense problem: check for a cancel before every one.
      check_cancelled();
      augment_from(f);
      ++paths;
      if (ctx && (paths & 63) == 0) ctx->progress(double(paths), double(free_rows.size()));
    }
    return paths;
  }

  void extract(double mass, double* plan, double* u, double* v) const {
    std::fill(plan, plan + n_ * n_, 0.0);
    const double entry = mass / double(n_);
    for (int64_t i = 0; i < n_; ++i) {
      plan[i * n_ + x_[i]] = entry;
      u[i] = c_[i * n_ + x_[i]] - v_[x_[i]];
    }
    std::copy(v_.begin(), v_.end(), v);
  }

 private:
  const double* row(int64_t i) const { return c_ + i * n_; }
  void check_cancelled() const {
    if (ctx_) ctx_->check_cancelled();
  }

  std::vector<int64_t> column_reduction() {
    // Column minima in one row-major sweep (the first row attaining each minimum).
    std::vector<int64_t> arg(static_cast<size_t>(n_), 0);
    std::copy(row(0), row(0) + n_, v_.begin());
    for (int64_t i = 1; i < n_; ++i) {
      const double* ci = row(i);
      for (int64_t j = 0; j < n_; ++j)
        if (ci[j] < v_[j]) {
          v_[j] = ci[j];
          arg[j] = i;
        }
    }
    std::vector<int> offers(static_cast<size_t>(n_), 0);
    for (int64_t j = n_ - 1; j >= 0; --j) {
      const int64_t i = arg[j];
      if (offers[i]++ == 0) {
        x_[i] = j;
        y_[j] = i;
      }
    }
    std::vector<int64_t> free_rows;
    check_cancelled();
    for (int64_t i = 0; i < n_; ++i) {
      if (offers[i] == 0) {
        free_rows.push_back(i);
      } else if (offers[i] == 1) {
        // Reduction transfer: make the row indifferent between its column and the next best.
        const int64_t j1 = x_[i];
        const double* ci = row(i);
        double second = kInf;
        for (int64_t j = 0; j < n_; ++j)
          if (j != j1) second = std::min(second, ci[j] - v_[j]);
        if (second < kInf) v_[j1] -= second - (ci[j1] - v_[j1]);
      }
    }
    return free_rows;
  }

  // Best and second-best reduced cost of row i: (u1, j1), (u2, j2).
  void two_best(int64_t i, double& u1, int64_t& j1, double& u2, int64_t& j2) const {
    const double* ci = row(i);
    u1 = kInf;
    u2 = kInf;
    j1 = -1;
    j2 = -1;
    for (int64_t j = 0; j < n_; ++j) {
      const double h = ci[j] - v_[j];
      if (h < u2) {
        if (h >= u1) {
          u2 = h;
          j2 = j;
        } else {
          u2 = u1;
          j2 = j1;
          u1 = h;
          j1 = j;
        }
      }
    }
  }

  std::vector<int64_t> augmenting_row_reduction(const std::vector<int64_t>& rows) {
    std::vector<int64_t> queue(rows), next;
    // Float ties can make rows evict each other by ever smaller price steps; a budget of
    // steps bounds that, and whatever is left goes to the augmenting-path phase.
    int64_t budget = 8 * n_ + 64;
    size_t k = 0;
    while (k < queue.size()) {
      if ((k & 255) == 0) check_cancelled();
      const int64_t i = queue[k++];
      if (budget-- <= 0) {
        next.push_back(i);
        continue;
      }
      double u1, u2;
      int64_t j1, j2;
      two_best(i, u1, j1, u2, j2);
      int64_t owner = y_[j1];
      if (u1 < u2) {
        if (u2 < kInf) v_[j1] -= u2 - u1;  // row i now indifferent between j1 and j2
      } else if (owner >= 0 && j2 >= 0) {
        j1 = j2;  // a tie: take the other column rather than evict
        owner = y_[j1];
      }
      if (owner >= 0) x_[owner] = -1;
      x_[i] = j1;
      y_[j1] = i;
      if (owner >= 0) {
        if (u1 < u2) {
          queue[--k] = owner;  // try the evicted row again at once
        } else {
          next.push_back(owner);
        }
      }
    }
    return next;
  }

  // Shortest augmenting path from free row f (Dijkstra over reduced costs C_ij - v_j).
  // cols_ holds the columns in three runs: [0, lo) settled, [lo, hi) at the current
  // minimum distance mu (settled next, a free one ends the search), [hi, n) the rest.
  // Settled columns then move their prices by their distance, keeping the duals feasible.
  void augment_from(int64_t f) {
    d_.resize(size_t(n_));
    pred_.resize(size_t(n_));
    cols_.resize(size_t(n_));
    const double* cf = row(f);
    for (int64_t j = 0; j < n_; ++j) {
      d_[j] = cf[j] - v_[j];
      pred_[j] = f;
      cols_[j] = j;
    }
    int64_t lo = 0, hi = 0, last = 0, end = -1;
    double mu = 0;
    while (end < 0) {
      if (lo == hi) {  // collect the next run of closest columns
        last = lo;
        mu = kInf;
        for (int64_t k = lo; k < n_; ++k) {
          const int64_t j = cols_[k];
          const double h = d_[j];
          if (h <= mu) {
            if (h < mu) {
              hi = lo;
              mu = h;
            }
            cols_[k] = cols_[hi];
            cols_[hi++] = j;
          }
        }
        for (int64_t k = lo; k < hi; ++k)
          if (y_[cols_[k]] < 0) {
            end = cols_[k];
            break;
          }
        if (end >= 0) break;
      }
      // Settle one column of the run and relax its owner's row.
      const int64_t j1 = cols_[lo++];
      const int64_t i = y_[j1];
      const double* ci = row(i);
      const double h0 = ci[j1] - v_[j1] - mu;
      for (int64_t k = hi; k < n_; ++k) {
        const int64_t j = cols_[k];
        const double h = ci[j] - v_[j] - h0;
        if (h < d_[j]) {
          d_[j] = h;
          pred_[j] = i;
          if (h == mu) {
            if (y_[j] < 0) {
              end = j;
              break;
            }
            cols_[k] = cols_[hi];
            cols_[hi++] = j;
          }
        }
      }
    }
    for (int64_t k = 0; k < last; ++k) {
      const int64_t j = cols_[k];
      v_[j] += d_[j] - mu;
    }
    // Flip the path: each column on it goes to its predecessor row.
    for (int64_t j = end;;) {
      const int64_t i = pred_[j];
      y_[j] = i;
      const int64_t previous = x_[i];
      x_[i] = j;
      if (i == f) break;
      j = previous;
    }
  }

  const double* c_;
  int64_t n_;
  std::vector<int64_t> x_, y_;  // row -> column, column -> row (-1: free)
  std::vector<double> v_;       // column prices (duals)
  TaskContext* ctx_ = nullptr;  // for cancellation checks between steps
  std::vector<double> d_;  // path search: distance of each column
  std::vector<int64_t> pred_, cols_;
};

}  // namespace

ExactResult assignment(const double* cost, int64_t n, double mass, double* plan, double* u, double* v,
                       TaskContext* ctx) {
  ExactResult res;
  if (n == 0) return res;
  Assignment solver(cost, n);
  res.iterations = solver.solve(ctx);
  solver.extract(mass, plan, u, v);
  return res;
}

}  // namespace tf::ot::detail
