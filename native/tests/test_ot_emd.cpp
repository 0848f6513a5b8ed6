// Exact OT: square uniform problems against brute force over all permutations (n <= 7),
// rectangular LPs through their optimality certificate (feasible duals, complementary
// slackness, marginals, equal primal and dual objectives), the two solvers against each
// other, and the degenerate inputs.
#include <algorithm>
#include <cmath>
#include <numeric>
#include <vector>

#include "../core/ot/ot.h"
#include "check.h"
#include "ot_test_util.h"

namespace tf::test {
namespace {

using ot::EmdOptions;
using ot::EmdSolver;

struct Solved {
  std::vector<double> plan, u, v;
  ot::EmdResult res;
};

Solved solve(const std::vector<double>& a, const std::vector<double>& b, const std::vector<double>& c, EmdSolver s,
             bool center = true) {
  Solved r;
  r.plan.assign(a.size() * b.size(), -1.0);
  r.u.resize(a.size());
  r.v.resize(b.size());
  EmdOptions o;
  o.solver = s;
  o.center_dual = center;
  r.res = ot::emd(a.data(), b.data(), c.data(), int64_t(a.size()), int64_t(b.size()), o, r.plan.data(), r.u.data(),
                  r.v.data());
  return r;
}

double brute_force_assignment(const std::vector<double>& c, int n) {
  std::vector<int> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), 0);
  double best = INFINITY;
  do {
    double s = 0;
    for (int i = 0; i < n; ++i) s += c[i * n + perm[i]];
    best = std::min(best, s);
  } while (std::next_permutation(perm.begin(), perm.end()));
  return best;
}

// Optimality certificate of an LP solution. tol scales with the cost magnitude.
void check_certificate(const Solved& s, const std::vector<double>& a, const std::vector<double>& b,
                       const std::vector<double>& c, const char* what) {
  const int64_t n = int64_t(a.size()), m = int64_t(b.size());
  double cscale = 1e-300;
  for (double x : c) cscale = std::max(cscale, std::fabs(x));
  const double tol = 1e-10 * cscale;
  bool ok = all_finite_nonnegative(s.plan);
  auto rows = row_sums(s.plan, n, m), cols = col_sums(s.plan, n, m);
  for (int64_t i = 0; i < n; ++i) ok = ok && std::fabs(rows[i] - a[i]) <= 1e-13;
  for (int64_t j = 0; j < m; ++j) ok = ok && std::fabs(cols[j] - b[j]) <= 1e-13;
  double primal = 0, dual = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) {
      const double slack = c[i * m + j] - s.u[i] - s.v[j];
      ok = ok && slack >= -tol;                                  // dual feasibility
      if (s.plan[i * m + j] > 1e-14) ok = ok && slack <= tol;    // complementary slackness
      primal += s.plan[i * m + j] * c[i * m + j];
    }
  for (int64_t i = 0; i < n; ++i) dual += a[i] * s.u[i];
  for (int64_t j = 0; j < m; ++j) dual += b[j] * s.v[j];
  ok = ok && std::fabs(primal - dual) <= 1e-9 * cscale && std::fabs(primal - s.res.transport_cost) <= 1e-12 * cscale;
  ok = ok && s.res.optimal;
  if (!ok) {
    char buf[200];
    std::snprintf(buf, sizeof buf, "%s: %lld x %lld certificate fails (primal %.17g dual %.17g)", what, (long long)n,
                  (long long)m, primal, dual);
    record_failure(__FILE__, __LINE__, buf);
  }
}

TEST("ot emd: square uniform problems equal brute force over all permutations (n <= 7)") {
  uint32_t seed = 1;
  for (int n = 1; n <= 7; ++n)
    for (int kind = 0; kind < 4; ++kind) {
      std::vector<double> c = random_doubles(static_cast<size_t>(n * n), seed++);
      if (kind == 1)
        for (auto& x : c) x = std::floor(x * 3);  // many ties
      if (kind == 2)
        for (auto& x : c) x = 0;  // all ties
      if (kind == 3)
        for (auto& x : c) x = x * 2 - 1;  // negative costs
      const double best = brute_force_assignment(c, n);
      auto a = uniform_histogram(static_cast<size_t>(n));
      for (EmdSolver s : {EmdSolver::Auto, EmdSolver::Assignment, EmdSolver::NetworkSimplex}) {
        auto r = solve(a, a, c, s);
        CHECK_NEAR(r.res.transport_cost * n, best, 1e-12);
        if (s == EmdSolver::Auto) CHECK(r.res.solver == EmdSolver::Assignment);
        // A permutation matrix divided by n.
        for (int i = 0; i < n; ++i) {
          int ones = 0;
          for (int j = 0; j < n; ++j) {
            const double p = r.plan[i * n + j];
            CHECK(p == 0.0 || std::fabs(p - 1.0 / n) < 1e-15);
            ones += p != 0.0;
          }
          CHECK(ones == 1);
        }
        check_certificate(r, a, a, c, s == EmdSolver::NetworkSimplex ? "simplex (square)" : "assignment");
      }
    }
}

TEST("ot emd: rectangular LPs with any marginals satisfy the optimality certificate") {
  uint32_t seed = 100;
  for (int n = 1; n <= 12; n += 1)
    for (int m : {1, 2, 5, 9, 13}) {
      for (int variant = 0; variant < 3; ++variant) {
        auto c = random_doubles(static_cast<size_t>(n * m), seed++);
        if (variant == 2)
          for (auto& x : c) x = std::round(x * 4) / 4;  // ties
        const double zeros = variant == 1 ? 0.2 : 0.0;
        auto a = variant == 0 ? uniform_histogram(size_t(n)) : random_histogram(size_t(n), seed++, zeros);
        auto b = variant == 0 ? uniform_histogram(size_t(m)) : random_histogram(size_t(m), seed++, zeros);
        auto r = solve(a, b, c, EmdSolver::Auto);
        check_certificate(r, a, b, c, "rectangular");
      }
    }
}

TEST("ot emd: network simplex and assignment agree on larger problems") {
  for (int n : {50, 200, 301}) {
    auto c = random_doubles(static_cast<size_t>(n * n), 300 + n);
    auto a = uniform_histogram(static_cast<size_t>(n));
    auto ns = solve(a, a, c, EmdSolver::NetworkSimplex);
    auto as = solve(a, a, c, EmdSolver::Assignment);
    CHECK_NEAR(ns.res.transport_cost, as.res.transport_cost, 1e-12);
    check_certificate(ns, a, a, c, "simplex");
    check_certificate(as, a, a, c, "assignment");
  }
  // Rectangular with structure (an integer ratio of sizes, as when widening a layer).
  auto c = random_doubles(60 * 240, 400);
  auto a = uniform_histogram(60), b = uniform_histogram(240);
  check_certificate(solve(a, b, c, EmdSolver::Auto), a, b, c, "60 x 240");
}

TEST("ot emd: marginal sums are balanced like POT, or rejected") {
  auto c = random_doubles(4 * 3, 500);
  std::vector<double> a = {0.25, 0.25, 0.25, 0.25}, b = {0.3, 0.3, 0.4 + 5e-8};
  auto r = solve(a, b, c, EmdSolver::Auto);
  CHECK(r.res.mass_rescaled);
  auto cols = col_sums(r.plan, 4, 3);
  const double scale = 1.0 / (1.0 + 5e-8);
  CHECK_NEAR(cols[2], (0.4 + 5e-8) * scale, 1e-15);
  std::vector<double> far = {0.3, 0.3, 0.41};
  EmdOptions o;
  std::vector<double> p(12), u(4), v(3);
  CHECK_THROWS(ot::emd(a.data(), far.data(), c.data(), 4, 3, o, p.data(), u.data(), v.data()));
  std::vector<double> neg = {0.5, 0.6, -0.1};
  CHECK_THROWS(ot::emd(a.data(), neg.data(), c.data(), 4, 3, o, p.data(), u.data(), v.data()));
  // The assignment solver refuses what it cannot solve.
  o.solver = EmdSolver::Assignment;
  std::vector<double> b3 = {1.0 / 3, 1.0 / 3, 1.0 / 3};
  CHECK_THROWS(ot::emd(a.data(), b3.data(), c.data(), 4, 3, o, p.data(), u.data(), v.data()));
}

TEST("ot emd: duals are centred as POT does (a.u == b.v)") {
  auto c = random_doubles(6 * 8, 600);
  auto a = random_histogram(6, 601), b = random_histogram(8, 602);
  auto r = solve(a, b, c, EmdSolver::Auto);
  double au = 0, bv = 0;
  for (int i = 0; i < 6; ++i) au += a[i] * r.u[i];
  for (int j = 0; j < 8; ++j) bv += b[j] * r.v[j];
  CHECK_NEAR(au, bv, 1e-15);
  auto raw = solve(a, b, c, EmdSolver::Auto, false);
  // Uncentred duals differ from centred ones by one constant.
  const double k = r.u[0] - raw.u[0];
  for (int i = 0; i < 6; ++i) CHECK_NEAR(r.u[i] - raw.u[i], k, 1e-12);
  for (int j = 0; j < 8; ++j) CHECK_NEAR(raw.v[j] - r.v[j], k, 1e-12);
}

TEST("ot emd: degenerate inputs") {
  // One source, one sink, zero total mass.
  std::vector<double> c = {2.0, 1.0, 3.0};
  auto r = solve({1.0}, {0.2, 0.3, 0.5}, c, EmdSolver::Auto);
  CHECK_NEAR(r.plan[0], 0.2, 1e-16);
  CHECK_NEAR(r.res.transport_cost, 0.4 + 0.3 + 1.5, 1e-15);
  r = solve({0.2, 0.3, 0.5}, {1.0}, c, EmdSolver::Auto);
  CHECK_NEAR(r.plan[2], 0.5, 1e-16);
  r = solve({0.0, 0.0}, {0.0, 0.0}, {1, 2, 3, 4}, EmdSolver::Auto);
  for (double p : r.plan) CHECK(p == 0.0);
  // Pivot limit: reports a non-optimal plan that still has the right marginals.
  auto big = random_doubles(40 * 40, 700);
  auto a = uniform_histogram(40);
  EmdOptions o;
  o.solver = EmdSolver::NetworkSimplex;
  o.max_iter = 5;
  std::vector<double> p(1600), u(40), v(40);
  auto res = ot::emd(a.data(), a.data(), big.data(), 40, 40, o, p.data(), u.data(), v.data());
  CHECK(!res.optimal && res.iterations == 5);
}

}  // namespace
}  // namespace tf::test
