// Sinkhorn against a float64 re-derivation of POT 0.8.2's `sinkhorn_knopp`, written here in
// the plain domain (fine for moderate reg): same iteration count, plans equal to ~1e-12.
// Then what the plain domain cannot do: tiny reg, huge cost ranges, negative costs, ties,
// zero-mass rows/columns, epsilon scaling, and results independent of the thread count.
#include <cmath>
#include <limits>
#include <vector>

#include "../core/ot/ot.h"
#include "../core/ot/vec_math.h"
#include "../core/thread_pool.h"
#include "check.h"
#include "ot_test_util.h"
#include "test_device.h"

namespace tf::test {
namespace {

using ot::SinkhornMethod;
using ot::SinkhornOptions;

struct Reference {
  std::vector<double> plan;
  int iterations = 0;  // POT's niter + 1
  bool converged = false;
};

// POT 0.8.2 bregman.sinkhorn_knopp, one histogram: u = 1/n, v = 1/m, K = exp(-M/reg),
// Kp = K / a; per iteration v = b / K^T u, u = 1 / (Kp v); revert and stop on 0/inf/nan;
// every check_every-th iteration err = ||(u K v) column sums - b|| and stop if < tol.
Reference pot_sinkhorn_knopp(const std::vector<double>& a, const std::vector<double>& b, const std::vector<double>& c,
                             double reg, int max_iter, double tol, int check_every = 10) {
  const size_t n = a.size(), m = b.size();
  std::vector<double> u(n, 1.0 / double(n)), v(m, 1.0 / double(m)), K(n * m), Kp(n * m);
  for (size_t k = 0; k < n * m; ++k) K[k] = std::exp(c[k] / -reg);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < m; ++j) Kp[i * m + j] = (1.0 / a[i]) * K[i * m + j];
  Reference r;
  int ii = 0;
  for (ii = 0; ii < max_iter; ++ii) {
    auto uprev = u, vprev = v;
    std::vector<double> ktu(m, 0.0);
    for (size_t i = 0; i < n; ++i)
      for (size_t j = 0; j < m; ++j) ktu[j] += K[i * m + j] * u[i];
    bool bad = false;
    for (size_t j = 0; j < m; ++j) {
      v[j] = b[j] / ktu[j];
      bad = bad || ktu[j] == 0 || !std::isfinite(v[j]);
    }
    for (size_t i = 0; i < n; ++i) {
      double s = 0;
      for (size_t j = 0; j < m; ++j) s += Kp[i * m + j] * v[j];
      u[i] = 1.0 / s;
      bad = bad || !std::isfinite(u[i]);
    }
    if (bad) {
      u = uprev;
      v = vprev;
      break;
    }
    if (ii % check_every == 0) {
      double e2 = 0;
      for (size_t j = 0; j < m; ++j) {
        double t = 0;
        for (size_t i = 0; i < n; ++i) t += u[i] * K[i * m + j] * v[j];
        e2 += (t - b[j]) * (t - b[j]);
      }
      if (std::sqrt(e2) < tol) {
        r.converged = true;
        break;
      }
    }
  }
  r.iterations = r.converged ? ii + 1 : ii;
  r.plan.resize(n * m);
  for (size_t i = 0; i < n; ++i)
    for (size_t j = 0; j < m; ++j) r.plan[i * m + j] = u[i] * K[i * m + j] * v[j];
  return r;
}

struct Ours {
  std::vector<double> plan, log_u, log_v;
  ot::SinkhornResult res;
};

Ours run(const std::vector<double>& a, const std::vector<double>& b, const std::vector<double>& c,
         const SinkhornOptions& o) {
  Ours r;
  r.plan.assign(a.size() * b.size(), -1.0);
  r.log_u.resize(a.size());
  r.log_v.resize(b.size());
  r.res = ot::sinkhorn(a.data(), b.data(), c.data(), int64_t(a.size()), int64_t(b.size()), o, r.plan.data(),
                       r.log_u.data(), r.log_v.data());
  return r;
}

// A cost in [0, 1] with structure (so Sinkhorn needs more than a few iterations).
std::vector<double> structured_cost(int64_t n, int64_t m, uint32_t seed) {
  auto x = random_doubles(static_cast<size_t>(n * 3), seed), y = random_doubles(static_cast<size_t>(m * 3), seed + 1);
  std::vector<double> c(static_cast<size_t>(n * m));
  double mx = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) {
      double d = 0;
      for (int t = 0; t < 3; ++t) d += (x[i * 3 + t] - y[j * 3 + t]) * (x[i * 3 + t] - y[j * 3 + t]);
      c[i * m + j] = std::sqrt(d);
      mx = std::max(mx, c[i * m + j]);
    }
  for (auto& v : c) v /= mx;
  return c;
}

void check_parity(int64_t n, int64_t m, double reg, int max_iter, double tol, int check_every, bool uniform,
                  uint32_t seed) {
  auto c = structured_cost(n, m, seed);
  auto a = uniform ? uniform_histogram(static_cast<size_t>(n)) : random_histogram(static_cast<size_t>(n), seed + 10);
  auto b = uniform ? uniform_histogram(static_cast<size_t>(m)) : random_histogram(static_cast<size_t>(m), seed + 11);
  auto ref = pot_sinkhorn_knopp(a, b, c, reg, max_iter, tol, check_every);
  for (auto method : {SinkhornMethod::Scaling, SinkhornMethod::LogSumExp}) {
    SinkhornOptions o;
    o.reg = reg;
    o.max_iter = max_iter;
    o.tol = tol;
    o.check_every = check_every;
    o.method = method;
    auto ours = run(a, b, c, o);
    char what[200];
    std::snprintf(what, sizeof what, "n=%lld m=%lld reg=%g method=%d: iterations %d vs POT %d, plan diff %.3g",
                  (long long)n, (long long)m, reg, int(method), ours.res.iterations, ref.iterations,
                  max_rel_diff(ours.plan, ref.plan));
    if (ours.res.iterations != ref.iterations || ours.res.converged != ref.converged ||
        !(max_rel_diff(ours.plan, ref.plan) < 1e-12))
      record_failure(__FILE__, __LINE__, what);
    CHECK(all_finite_nonnegative(ours.plan));
    if (ref.converged) CHECK(ours.res.marginal_error < tol * 1.01);
    // The row marginals are exact after the u-update.
    auto rows = row_sums(ours.plan, n, m);
    for (int64_t i = 0; i < n; ++i) CHECK_NEAR(rows[i], a[i], 1e-14);
  }
}

TEST("ot sinkhorn: iterates equal POT's sinkhorn_knopp (square, rectangular, non-uniform)") {
  check_parity(40, 40, 0.1, 1000, 1e-9, 10, true, 1);
  check_parity(30, 70, 0.05, 1000, 1e-9, 10, true, 2);
  check_parity(70, 30, 0.05, 1000, 1e-9, 10, false, 3);
  check_parity(50, 50, 0.02, 1000, 1e-9, 10, false, 4);   // needs hundreds of iterations
  check_parity(33, 47, 0.03, 57, 1e-9, 10, true, 5);      // stops at max_iter
  check_parity(20, 25, 0.08, 1000, 1e-12, 1, false, 6);   // checks every iteration
  check_parity(20, 25, 0.08, 1000, 1e-11, 7, true, 7);    // another check interval
  check_parity(1, 9, 0.1, 1000, 1e-9, 10, false, 8);
  check_parity(9, 1, 0.1, 1000, 1e-9, 10, false, 9);
  check_parity(530, 500, 0.04, 1000, 1e-9, 10, true, 10); // above the threading threshold
}

TEST("ot sinkhorn: zero-mass rows or columns match POT and get zero plan entries") {
  auto c = structured_cost(12, 15, 21);
  SinkhornOptions o;
  o.reg = 0.1;
  for (int which = 0; which < 2; ++which) {
    auto a = random_histogram(12, 22, which == 0 ? 0.3 : 0.0), b = random_histogram(15, 23, which == 1 ? 0.3 : 0.0);
    auto ref = pot_sinkhorn_knopp(a, b, c, 0.1, 1000, 1e-9);
    auto ours = run(a, b, c, o);
    CHECK(ref.converged && ours.res.converged);
    CHECK(ours.res.iterations == ref.iterations);
    CHECK_NEAR(max_rel_diff(ours.plan, ref.plan), 0, 1e-12);
    for (int64_t i = 0; i < 12; ++i)
      if (a[i] == 0) {
        CHECK(ours.log_u[i] == -std::numeric_limits<double>::infinity());
        for (int64_t j = 0; j < 15; ++j) CHECK(ours.plan[i * 15 + j] == 0.0);
      }
  }
  // Both at once: POT hits inf * 0 = NaN in its first iteration, reverts to the starting
  // plan and stops ("numerical errors at iteration 0"); here the problem is simply solved.
  auto a = random_histogram(12, 24, 0.3), b = random_histogram(15, 25, 0.3);
  auto ref = pot_sinkhorn_knopp(a, b, c, 0.1, 1000, 1e-9);
  CHECK(!ref.converged && ref.iterations == 0);
  auto ours = run(a, b, c, o);
  CHECK(ours.res.converged && ours.res.marginal_error < 1e-9);
  auto rows = row_sums(ours.plan, 12, 15);
  for (int64_t i = 0; i < 12; ++i) CHECK_NEAR(rows[i], a[i], 1e-15);
}

TEST("ot sinkhorn: log potentials reproduce the plan") {
  auto c = structured_cost(17, 23, 31);
  auto a = random_histogram(17, 32), b = random_histogram(23, 33);
  SinkhornOptions o;
  o.reg = 0.05;
  auto ours = run(a, b, c, o);
  double worst = 0;
  for (int64_t i = 0; i < 17; ++i)
    for (int64_t j = 0; j < 23; ++j) {
      double p = std::exp(ours.log_u[i] - c[i * 23 + j] / o.reg + ours.log_v[j]);
      worst = std::max(worst, std::fabs(p - ours.plan[i * 23 + j]));
    }
  CHECK(worst < 1e-13);
}

TEST("ot sinkhorn: reg down to 1e-4 on costs in [0, 1] stays finite, both paths agree") {
  for (double reg : {1e-3, 1e-4}) {
    auto c = structured_cost(60, 45, 41);
    auto a = random_histogram(60, 42), b = random_histogram(45, 43);
    SinkhornOptions o;
    o.reg = reg;
    auto scaling = run(a, b, c, o);
    o.method = SinkhornMethod::LogSumExp;
    auto logd = run(a, b, c, o);
    CHECK(all_finite_nonnegative(scaling.plan));
    CHECK(all_finite_nonnegative(logd.plan));
    CHECK(scaling.res.absorptions > 0);  // the plain kernel underflows here
    CHECK(scaling.res.iterations == logd.res.iterations);
    CHECK(max_rel_diff(scaling.plan, logd.plan) < 1e-8);
    auto rows = row_sums(scaling.plan, 60, 45);
    for (int64_t i = 0; i < 60; ++i) CHECK_NEAR(rows[i], a[i], 1e-12);
    if (scaling.res.converged) CHECK(scaling.res.marginal_error < 1e-9);
    for (double x : scaling.log_u) CHECK(std::isfinite(x));
    for (double x : scaling.log_v) CHECK(std::isfinite(x));
  }
}

TEST("ot sinkhorn: huge cost ranges and negative costs") {
  // Costs spanning 0..1e6 with reg 1: exp(-C/reg) underflows for most entries.
  auto c = structured_cost(25, 30, 51);
  for (size_t k = 0; k < c.size(); ++k) c[k] = c[k] * c[k] * 1e6 * (k % 7 == 0 ? 1e-6 : 1.0);
  auto a = uniform_histogram(25), b = uniform_histogram(30);
  SinkhornOptions o;
  o.reg = 1.0;
  auto s1 = run(a, b, c, o);
  o.method = SinkhornMethod::LogSumExp;
  auto s2 = run(a, b, c, o);
  CHECK(all_finite_nonnegative(s1.plan));
  CHECK(s1.res.iterations == s2.res.iterations);
  CHECK(max_rel_diff(s1.plan, s2.plan) < 1e-8);
  // Negative costs: exp(-C/reg) would overflow; the start goes through the log domain.
  auto cn = structured_cost(20, 20, 52);
  for (auto& v : cn) v = -5.0 * v;
  o.reg = 1e-3;
  o.method = SinkhornMethod::Scaling;
  auto n1 = run(uniform_histogram(20), uniform_histogram(20), cn, o);
  o.method = SinkhornMethod::LogSumExp;
  auto n2 = run(uniform_histogram(20), uniform_histogram(20), cn, o);
  CHECK(all_finite_nonnegative(n1.plan));
  CHECK(n1.res.iterations == n2.res.iterations);
  CHECK(max_rel_diff(n1.plan, n2.plan) < 1e-8);
}

TEST("ot sinkhorn: ties and an all-zero cost give the independent coupling at once") {
  auto a = random_histogram(8, 61), b = random_histogram(11, 62);
  std::vector<double> zero(8 * 11, 0.0);
  SinkhornOptions o;
  o.reg = 1e-4;
  auto r = run(a, b, zero, o);
  CHECK(r.res.converged);
  CHECK(r.res.iterations == 1);
  for (int64_t i = 0; i < 8; ++i)
    for (int64_t j = 0; j < 11; ++j) CHECK_NEAR(r.plan[i * 11 + j], a[i] * b[j], 1e-16);
  // Constant rows (ties within a row) are no different.
  std::vector<double> c(8 * 11);
  for (int64_t i = 0; i < 8; ++i)
    for (int64_t j = 0; j < 11; ++j) c[i * 11 + j] = double(i) * 0.1;
  r = run(a, b, c, o);
  CHECK(r.res.converged);
  // (Rows whose kernel underflows are solved from their potentials: with reg = 1e-4,
  // rounding of order 1e-17 in a potential is 1e-13 relative in the plan.)
  for (int64_t i = 0; i < 8; ++i)
    for (int64_t j = 0; j < 11; ++j) CHECK_NEAR(r.plan[i * 11 + j], a[i] * b[j], 1e-12 * a[i] * b[j]);
}

TEST("ot sinkhorn: epsilon scaling converges to the same plan") {
  auto c = structured_cost(40, 35, 71);
  auto a = uniform_histogram(40), b = uniform_histogram(35);
  SinkhornOptions o;
  o.reg = 0.01;
  o.max_iter = 5000;
  auto plain = run(a, b, c, o);
  o.epsilon_scaling.enabled = true;
  auto scaled = run(a, b, c, o);
  CHECK(plain.res.converged && scaled.res.converged);
  CHECK(max_rel_diff(scaled.plan, plain.plan) < 1e-5);
  o.method = SinkhornMethod::LogSumExp;
  auto scaled_log = run(a, b, c, o);
  CHECK(scaled_log.res.converged);
  CHECK(max_rel_diff(scaled_log.plan, plain.plan) < 1e-5);
}

TEST("ot sinkhorn: results do not depend on the thread count") {
  auto c = structured_cost(600, 500, 81);  // large enough to be threaded
  auto a = random_histogram(600, 82), b = random_histogram(500, 83);
  SinkhornOptions o;
  o.reg = 0.03;
  set_num_threads(1);
  auto one = run(a, b, c, o);
  set_num_threads(2);
  auto two = run(a, b, c, o);
  set_num_threads(0);
  CHECK(one.res.iterations == two.res.iterations);
  CHECK(one.plan == two.plan);
}

TEST("ot sinkhorn: input checks") {
  std::vector<double> a = {0.5, 0.5}, b = {1.0}, c = {0.1, 0.2}, p(2);
  SinkhornOptions o;
  CHECK_THROWS(ot::sinkhorn(a.data(), b.data(), c.data(), 2, 1, o, p.data()));  // reg missing
  o.reg = 0.1;
  std::vector<double> bad_a = {-0.5, 1.5};
  CHECK_THROWS(ot::sinkhorn(bad_a.data(), b.data(), c.data(), 2, 1, o, p.data()));
  std::vector<double> bad_c = {0.1, std::numeric_limits<double>::quiet_NaN()};
  CHECK_THROWS(ot::sinkhorn(a.data(), b.data(), bad_c.data(), 2, 1, o, p.data()));
  o.check_every = 0;
  CHECK_THROWS(ot::sinkhorn(a.data(), b.data(), c.data(), 2, 1, o, p.data()));
  // max_iter 0: POT's starting plan diag(1/n) K diag(1/m).
  o.check_every = 10;
  o.max_iter = 0;
  auto r = ot::sinkhorn(a.data(), b.data(), c.data(), 2, 1, o, p.data());
  CHECK(r.iterations == 0 && !r.converged);
  CHECK_NEAR(p[0], 0.5 * std::exp(-1.0), 1e-16);
}

TEST("ot vec kernels: the dispatched kernels match the portable ones") {
  const auto& fast = ot::vec::kernels();
  const auto& port = ot::vec::portable_kernels();
  std::printf("    ot vector kernels: %s\n", fast.name);
  auto x = random_doubles(1003, 91, -2, 2), y = random_doubles(1003, 92, -2, 2);
  CHECK_NEAR(fast.dot(x.data(), y.data(), 1003), port.dot(x.data(), y.data(), 1003), 1e-12);
  // exp over the whole range, including underflow to subnormals and 0 and overflow to
  // inf: within 1 ulp where the result is normal, exact (std::exp) elsewhere.
  std::vector<double> e(4000), ref(4000);
  for (int k = 0; k < 4000; ++k) e[k] = ref[k] = -760.0 + 1475.0 * k / 3999.0 + 1e-3 * (k % 7);
  fast.exp_inplace(e.data(), 4000);
  for (int k = 0; k < 4000; ++k) {
    const double want = std::exp(ref[k]);
    if (ref[k] < -708.0 || ref[k] > 709.0) {
      CHECK(e[k] == want);
    } else {
      CHECK(std::fabs(e[k] - want) <= 2.3e-16 * want);
    }
  }
  // The same range through exp_row (the kernel build's loop, AVX-512 where the CPU has it):
  // out = exp((0 - c) * 1) with c = -x.
  std::vector<double> negx(4000), out(4000);
  for (int k = 0; k < 4000; ++k) negx[k] = -ref[k];
  fast.exp_row(negx.data(), nullptr, 0.0, 1.0, out.data(), 4000);
  for (int k = 0; k < 4000; ++k) {
    const double want = std::exp(ref[k]);
    if (ref[k] < -708.0 || ref[k] > 709.0) {
      CHECK(out[k] == want);
    } else {
      CHECK(std::fabs(out[k] - want) <= 2.3e-16 * want);
    }
  }
  // min_reduced: ties resolve to the first index.
  std::vector<double> c = {3, 1, 2, 1, 5, 1, 0.5, 0.5, 9};
  std::vector<double> q(9, 0.0);
  int64_t arg_fast, arg_port;
  double mf = fast.min_reduced(c.data(), 0.0, q.data(), 9, &arg_fast);
  double mp = port.min_reduced(c.data(), 0.0, q.data(), 9, &arg_port);
  CHECK(mf == 0.5 && mp == 0.5 && arg_fast == 6 && arg_port == 6);
  double m1 = fast.min_reduced(c.data(), 0.0, q.data(), 6, &arg_fast);
  CHECK(m1 == 1.0 && arg_fast == 1);
  std::vector<double> row(1003);
  double s1 = fast.exp_row(x.data(), y.data(), 0.3, -1.7, row.data(), 1003);
  double s2 = port.sum_exp_row(x.data(), y.data(), 0.3, -1.7, 1003);
  CHECK_NEAR(s1, s2, 1e-12 * s2);
  CHECK_NEAR(fast.max_diff(y.data(), x.data(), 1003), port.max_diff(y.data(), x.data(), 1003), 0);
  // finite_min: the minimum, or NaN as soon as one entry is not finite.
  CHECK(fast.finite_min(x.data(), 1003) == port.finite_min(x.data(), 1003));
  auto z = x;
  z[501] = std::numeric_limits<double>::infinity();
  CHECK(std::isnan(fast.finite_min(z.data(), 1003)) && std::isnan(port.finite_min(z.data(), 1003)));
  z[501] = std::numeric_limits<double>::quiet_NaN();
  CHECK(std::isnan(fast.finite_min(z.data(), 1003)));
  std::vector<double> cs1(1003, 1.0), cs2(1003, 1.0);
  double d1 = fast.colsum_dot(x.data(), y.data(), cs1.data(), 1003);
  double d2 = port.colsum_dot(x.data(), y.data(), cs2.data(), 1003);
  CHECK_NEAR(d1, d2, 1e-12);
  CHECK(cs1 == cs2);
}

}  // namespace
}  // namespace tf::test
