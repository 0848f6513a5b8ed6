// Primal network simplex for the transportation problem on the complete bipartite graph.
//
// Nodes: sources 0..n-1 (supply a_i), sinks n..n+m-1 (demand b_j), and an artificial root.
// Real arcs i -> n+j are never stored: arc e = i * m + j has cost C[e]. Each node also has
// an artificial arc to or from the root, which forms the starting spanning tree: sources
// (and zero-demand sinks) send their supply up to the root at cost 0, the root feeds each
// sink at a cost larger than any real route, so those arcs empty out as real arcs enter.
//
// The tree is kept strongly feasible (every zero-flow tree arc points towards the root),
// which rules out cycling on this very degenerate problem: the leaving arc is the last
// blocking arc met when walking the pivot cycle in the flow direction from its apex.
// Entering arcs are chosen by block search (as POT's LEMON-derived solver does): scan the
// arcs in blocks of about sqrt(n m), row by row, and take the most negative reduced cost
// of the first block that has one. A row segment is priced with one vector kernel.
//
// Tree storage: parent, the arc to the parent (`pred`, its orientation `up` and `flow`),
// depth, and child lists. A pivot re-hangs the subtree cut off by the leaving arc from
// the entering arc, which shifts the potentials of that subtree by a constant.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "../error.h"
#include "emd_solvers.h"
#include "vec_math.h"

namespace tf::ot::detail {

namespace {

// An arc is priced as entering when its reduced cost is below -kRelTol times the size of
// the numbers it is computed from (so rounding in the potentials never makes a tree arc
// or an optimal arc look improving).
constexpr double kRelTol = 1e-13;

class NetworkSimplex {
 public:
  NetworkSimplex(const double* a, const double* b, const double* cost, int64_t n, int64_t m)
      : n_(n), m_(m), c_(cost), nodes_(int32_t(n + m)), root_(int32_t(n + m)) {
    const int32_t total = nodes_ + 1;
    parent_.assign(total, -1);
    pred_.assign(total, -1);
    up_.assign(total, 0);
    flow_.assign(total, 0.0);
    pi_.assign(total, 0.0);
    depth_.assign(total, 0);
    first_child_.assign(total, -1);
    next_sib_.assign(total, -1);
    prev_sib_.assign(total, -1);
    art_cost_.assign(nodes_, 0.0);

    double cmax = 0;
    for (int64_t e = 0; e < n * m; ++e) cmax = std::max(cmax, std::fabs(cost[e]));
    // Dearer than any path of real arcs through all the nodes.
    const double art = (cmax + 1.0) * double(nodes_ + 1);

    depth_[root_] = 0;
    for (int32_t u = nodes_ - 1; u >= 0; --u) {
      const double supply = u < n ? a[u] : -b[u - n];
      pred_[u] = n * m + u;
      depth_[u] = 1;
      if (supply >= 0) {  // u -> root, cost 0
        up_[u] = 1;
        flow_[u] = supply;
        art_cost_[u] = 0.0;
        pi_[u] = 0.0;
      } else {  // root -> u, cost art
        up_[u] = 0;
        flow_[u] = -supply;
        art_cost_[u] = art;
        pi_[u] = art;
        art_flow_ += -supply;
      }
      link(root_, u);
    }
    const int64_t arcs = n * m;
    block_ = std::max<int64_t>(int64_t(std::sqrt(double(arcs))), 10);
    total_demand_ = art_flow_;
  }

  ExactResult run(int64_t max_iter, TaskContext* ctx) {
    ExactResult res;
    const int64_t recompute_every = std::max<int64_t>(1024, int64_t(nodes_));
    bool fresh = false;  // potentials recomputed exactly since the last pivot
    for (;;) {
      const int64_t e_in = find_entering();
      if (e_in < 0 || is_tree_arc(e_in)) {
        // Looks optimal, or a tree arc priced negative through rounding drift in the
        // potentials: decide with exact ones.
        if (fresh) break;
        recompute_potentials();
        fresh = true;
        continue;
      }
      fresh = false;
      if (res.iterations >= max_iter) {
        res.optimal = false;
        break;
      }
      pivot(e_in);
      ++res.iterations;
      if (res.iterations % recompute_every == 0) recompute_potentials();
      if (ctx && (res.iterations & 255) == 0) {  // cheap: progress is throttled by ctx
        ctx->check_cancelled();
        // Progress: the share of the demand already served over real arcs (the rest still
        // comes from the root). It reaches 1 a little before optimality is proven.
        const double served = total_demand_ > 0 ? 1.0 - std::max(0.0, art_flow_) / total_demand_ : 1.0;
        ctx->progress(std::min(served, 0.999), 1.0);
      }
    }
    recompute_potentials();
    return res;
  }

  void extract(double* plan, double* u, double* v) const {
    std::fill(plan, plan + n_ * m_, 0.0);
    for (int32_t x = 0; x < nodes_; ++x)
      if (pred_[x] < n_ * m_) plan[pred_[x]] = flow_[x];
    // Reduced cost C_ij + pi_i - pi_{n+j} >= 0, so u = -pi (sources), v = pi (sinks), up
    // to a constant. The potentials may all carry the artificial cost as an offset (when a
    // sink's empty artificial arc is the tree's link to the root); taking the first sink
    // as zero removes it, so the duals are as precise as the costs.
    const double offset = pi_[n_];
    for (int64_t i = 0; i < n_; ++i) u[i] = offset - pi_[i];
    for (int64_t j = 0; j < m_; ++j) v[j] = pi_[n_ + j] - offset;
  }

 private:
  int32_t source(int64_t e) const {
    return e < n_ * m_ ? int32_t(e / m_) : (up_of_art(e) ? int32_t(e - n_ * m_) : root_);
  }
  int32_t target(int64_t e) const {
    return e < n_ * m_ ? int32_t(n_ + e % m_) : (up_of_art(e) ? root_ : int32_t(e - n_ * m_));
  }
  bool up_of_art(int64_t e) const { return art_cost_[e - n_ * m_] == 0.0; }
  double arc_cost(int64_t e) const { return e < n_ * m_ ? c_[e] : art_cost_[e - n_ * m_]; }
  bool is_tree_arc(int64_t e) const { return pred_[e / m_] == e || pred_[n_ + e % m_] == e; }

  // Block search over the real arcs, starting where the last search stopped.
  int64_t find_entering() {
    const int64_t arcs = n_ * m_;
    const double* pi_sinks = pi_.data() + n_;
    double best = 0.0;
    int64_t best_arc = -1, in_block = 0, scanned = 0, e = next_arc_;
    while (scanned < arcs) {
      const int64_t i = e / m_, j0 = e % m_;
      const int64_t len = std::min({m_ - j0, block_ - in_block, arcs - scanned});
      int64_t arg;
      const double r = vec::min_reduced(c_ + e, pi_[i], pi_sinks + j0, len, &arg);
      if (r < best) {
        best = r;
        best_arc = e + arg;
      }
      e += len;
      if (e == arcs) e = 0;
      scanned += len;
      in_block += len;
      if (in_block == block_ || scanned == arcs) {
        in_block = 0;
        if (best_arc >= 0 && improving(best_arc, best)) {
          next_arc_ = e;
          return best_arc;
        }
      }
    }
    return -1;
  }

  bool improving(int64_t e, double reduced) const {
    const double scale = std::max({std::fabs(c_[e]), std::fabs(pi_[e / m_]), std::fabs(pi_[n_ + e % m_])});
    return reduced < -kRelTol * scale;
  }

  void pivot(int64_t e_in) {
    const int32_t p = source(e_in), q = target(e_in);
    const double reduced = c_[e_in] + pi_[p] - pi_[q];

    int32_t join_node = join(p, q);
    // Leaving arc: flow goes p -> q, then up from q to the apex, then down to p. Arcs on
    // the p side are walked against their tree direction (parent to child), those on the
    // q side along it (child to parent); an arc blocks when the walk opposes its
    // orientation. Ties go to the last blocking arc of the walk from the apex: on the p
    // side that is the one nearest p (strict <), on the q side the one nearest the apex
    // (<=, and the q side comes after the p side).
    double delta = std::numeric_limits<double>::infinity();
    int32_t u_out = -1;
    bool out_on_p_side = false;
    for (int32_t x = p; x != join_node; x = parent_[x])
      if (up_[x] && flow_[x] < delta) {
        delta = flow_[x];
        u_out = x;
        out_on_p_side = true;
      }
    for (int32_t x = q; x != join_node; x = parent_[x])
      if (!up_[x] && flow_[x] <= delta) {
        delta = flow_[x];
        u_out = x;
        out_on_p_side = false;
      }
    TF_CHECK(u_out >= 0, "emd: the transport problem is unbounded (negative cycle)");

    if (delta > 0) {
      for (int32_t x = p; x != join_node; x = parent_[x]) add_flow(x, up_[x] ? -delta : delta);
      for (int32_t x = q; x != join_node; x = parent_[x]) add_flow(x, up_[x] ? delta : -delta);
    }

    // Re-hang the subtree below the leaving arc from the entering arc.
    const int32_t u_in = out_on_p_side ? p : q, v_in = out_on_p_side ? q : p;
    stem_.clear();
    for (int32_t x = u_in;; x = parent_[x]) {
      stem_.push_back(x);
      if (x == u_out) break;
    }
    unlink(u_out);
    for (size_t t = stem_.size() - 1; t >= 1; --t) {
      const int32_t child = stem_[t - 1], node = stem_[t];  // node's new parent is child
      unlink(child);
      pred_[node] = pred_[child];
      up_[node] = !up_[child];
      flow_[node] = flow_[child];
      link(child, node);
    }
    pred_[u_in] = e_in;
    up_[u_in] = u_in == p;  // the entering arc leaves p
    flow_[u_in] = delta;
    link(v_in, u_in);

    // Potentials of the moved subtree shift so that the entering arc has reduced cost 0.
    const double shift = u_in == p ? -reduced : reduced;
    for_subtree(u_in, [&](int32_t x) {
      pi_[x] += shift;
      depth_[x] = depth_[parent_[x]] + 1;
    });
  }

  // Changes the flow on node x's tree arc, keeping count of what the root still supplies.
  void add_flow(int32_t x, double change) {
    flow_[x] += change;
    if (!up_[x] && pred_[x] >= n_ * m_) art_flow_ += change;
  }

  int32_t join(int32_t x, int32_t y) const {
    while (x != y) {
      if (depth_[x] > depth_[y]) {
        x = parent_[x];
      } else if (depth_[y] > depth_[x]) {
        y = parent_[y];
      } else {
        x = parent_[x];
        y = parent_[y];
      }
    }
    return x;
  }

  // Preorder walk of the subtree rooted at top, parents before children.
  template <typename Fn>
  void for_subtree(int32_t top, const Fn& fn) {
    int32_t x = top;
    for (;;) {
      fn(x);
      if (first_child_[x] >= 0) {
        x = first_child_[x];
        continue;
      }
      while (x != top && next_sib_[x] < 0) x = parent_[x];
      if (x == top) return;
      x = next_sib_[x];
    }
  }

  // Potentials from scratch along the tree: tree arcs have reduced cost exactly 0 then.
  void recompute_potentials() {
    pi_[root_] = 0.0;
    for (int32_t x = first_child_[root_]; x >= 0; x = next_sib_[x])
      for_subtree(x, [&](int32_t y) {
        const double c = arc_cost(pred_[y]);
        pi_[y] = up_[y] ? pi_[parent_[y]] - c : pi_[parent_[y]] + c;
      });
  }

  void link(int32_t parent, int32_t child) {
    parent_[child] = parent;
    prev_sib_[child] = -1;
    next_sib_[child] = first_child_[parent];
    if (first_child_[parent] >= 0) prev_sib_[first_child_[parent]] = child;
    first_child_[parent] = child;
  }

  void unlink(int32_t child) {
    const int32_t parent = parent_[child];
    if (prev_sib_[child] >= 0) {
      next_sib_[prev_sib_[child]] = next_sib_[child];
    } else {
      first_child_[parent] = next_sib_[child];
    }
    if (next_sib_[child] >= 0) prev_sib_[next_sib_[child]] = prev_sib_[child];
    next_sib_[child] = prev_sib_[child] = -1;
  }

  int64_t n_, m_;
  const double* c_;
  int32_t nodes_, root_;
  std::vector<int32_t> parent_, depth_, first_child_, next_sib_, prev_sib_, stem_;
  std::vector<int64_t> pred_;
  std::vector<uint8_t> up_;
  std::vector<double> flow_, pi_, art_cost_;
  int64_t block_ = 10, next_arc_ = 0;
  double art_flow_ = 0, total_demand_ = 0;  // flow on root -> sink arcs, and its initial value
};

}  // namespace

ExactResult network_simplex(const double* a, const double* b, const double* cost, int64_t n, int64_t m,
                            int64_t max_iter, double* plan, double* u, double* v, TaskContext* ctx) {
  TF_CHECK(n + m < int64_t(std::numeric_limits<int32_t>::max()), "emd: too many nodes");
  NetworkSimplex ns(a, b, cost, n, m);
  ExactResult res = ns.run(max_iter, ctx);
  ns.extract(plan, u, v);
  return res;
}

}  // namespace tf::ot::detail
