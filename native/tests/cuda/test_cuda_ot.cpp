// The CUDA optimal transport and fusion-map code against the CPU on the same seeded
// inputs: cost matrices (every metric, normalisation and clip, both neuron layouts),
// log-domain Sinkhorn (float64 and float32 costs, zero-mass marginals, a run that hits
// max_iter, epsilon scaling, batches), the residual policies' map arithmetic, and the
// whole transport map (cost + solver) on the CUDA backend. Runs with --device cuda only.
//
// Bounds (ot_cuda.h states what the kernels promise):
//   cost matrices: 1e-9 relative to the largest entry (float64 sums in another order);
//   Sinkhorn, float64 cost: plans within 1e-6 of the largest plan entry, iterations equal;
//   Sinkhorn, float32 cost: the same, against the CPU solving the float-rounded cost;
//   map arithmetic and activity statistics: bit-identical.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../../core/cuda/ot_cuda.h"
#include "../../core/fusion/fusion.h"
#include "../../core/ot/ot.h"
#include "../../core/ot/ot_device.h"
#include "../ot_test_util.h"
#include "cuda_compare.h"

namespace tf::test {
namespace {

using ot::CostOptions;
using ot::Metric;
using ot::NeuronView;
using ot::Normalization;
using ot::SinkhornOptions;

const char* norm_name(Normalization n) {
  switch (n) {
    case Normalization::None: return "none";
    case Normalization::Log: return "log";
    case Normalization::Max: return "max";
    case Normalization::Median: return "median";
    default: return "mean";
  }
}

double max_abs(const std::vector<double>& v) {
  double m = 0;
  for (double x : v) m = std::max(m, std::fabs(x));
  return m;
}

// Plans: |gpu - cpu| <= tol * max|cpu| everywhere (prints the worst).
void expect_plan_close(const std::string& what, const std::vector<double>& got, const std::vector<double>& want,
                       double tol) {
  expect_close(what, got, want, tol * std::max(max_abs(want), 1e-300), 0.0);
}

TEST("cuda vs cpu: cost matrices, every metric, normalisation and clip, both layouts") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  struct Shape { int64_t n, m, dim; };
  int cases = 0;
  for (Shape s : {Shape{1, 1, 1}, Shape{7, 5, 3}, Shape{64, 80, 130}, Shape{192, 192, 520}, Shape{300, 257, 33}}) {
    for (bool columns : {true, false}) {
      // Activations: dim rows x n columns with a padded row stride; weights: n rows x dim.
      const int64_t pad = 3;
      const int64_t a_rows = columns ? s.dim : s.n, a_cols = columns ? s.n : s.dim;
      const int64_t b_rows = columns ? s.dim : s.m, b_cols = columns ? s.m : s.dim;
      auto ha = random_vector(size_t(a_rows * (a_cols + pad)), uint32_t(11 + s.n), -2.0f, 2.0f);
      auto hb = random_vector(size_t(b_rows * (b_cols + pad)), uint32_t(12 + s.m), -2.0f, 3.0f);
      auto da = upload_to(*gpu, ha), db = upload_to(*gpu, hb);
      auto view = [&](const float* p, int64_t r, int64_t c) {
        return columns ? NeuronView::of_columns(p, r, c, c + pad) : NeuronView::of_rows(p, r, c, c + pad);
      };
      const NeuronView ca = view(ha.data(), a_rows, a_cols), cb = view(hb.data(), b_rows, b_cols);
      const NeuronView ga = view(da.get<float>(), a_rows, a_cols), gb = view(db.get<float>(), b_rows, b_cols);
      for (Metric metric : {Metric::Euclidean, Metric::Cosine})
        for (bool squared : {false, true}) {
          if (metric == Metric::Cosine && squared) continue;
          for (bool unit : {false, true})
            for (Normalization norm : {Normalization::None, Normalization::Log, Normalization::Max,
                                       Normalization::Median, Normalization::Mean})
              for (bool clip : {false, true}) {
                CostOptions o;
                o.metric = metric;
                o.squared = squared;
                o.unit_norm = unit;
                o.normalize = norm;
                o.clip = clip;
                o.clip_reg = 0.5, o.clip_min = 0.1, o.clip_max = 1.5;
                const std::string name = std::string(columns ? "columns " : "rows ") + std::to_string(s.n) + "x" +
                                         std::to_string(s.m) + "x" + std::to_string(s.dim) + " " +
                                         (metric == Metric::Cosine ? "cosine" : squared ? "sqeuclidean" : "euclidean") +
                                         (unit ? " unit" : "") + " norm=" + norm_name(norm) + (clip ? " clip" : "");
                part(name, [&] {
                  std::vector<double> want(size_t(s.n * s.m));
                  const ot::CostInfo ci = ot::cost_matrix(ca, cb, o, want.data(), s.m);
                  // A padded output stride on the GPU: the padding must stay untouched.
                  const int64_t ldo = s.m + 2;
                  std::vector<double> init(size_t(s.n * ldo), -7.0);
                  auto dout = upload_to(*gpu, init);
                  const ot::CostInfo gi = cuda::ot::cost_matrix(ga, gb, o, dout.get<double>(), ldo);
                  const auto got_full = download_from<double>(dout);
                  std::vector<double> got(want.size());
                  bool padding_kept = true;
                  for (int64_t i = 0; i < s.n; ++i)
                    for (int64_t j = 0; j < ldo; ++j) {
                      const double v = got_full[size_t(i * ldo + j)];
                      if (j < s.m) got[size_t(i * s.m + j)] = v;
                      else padding_kept = padding_kept && v == -7.0;
                    }
                  if (!padding_kept) record_failure(__FILE__, __LINE__, name + ": wrote into the output's padding");
                  if (cases < 8 || s.n >= 192) {
                    expect_close(name, got, want, 1e-9 * std::max(max_abs(want), 1.0), 1e-9);
                  } else {
                    // Quiet for the many small cases: only failures print.
                    for (size_t i = 0; i < got.size(); ++i)
                      if (!(std::fabs(got[i] - want[i]) <= 1e-9 * std::max(max_abs(want), 1.0) + 1e-9 * std::fabs(want[i]))) {
                        expect_close(name, got, want, 1e-9 * std::max(max_abs(want), 1.0), 1e-9);
                        break;
                      }
                  }
                  CHECK_NEAR(gi.scale, ci.scale, 1e-9 * std::fabs(ci.scale));
                  // One entry at the clip threshold may round to the other side.
                  CHECK_NEAR(gi.percent_clipped, ci.percent_clipped, 100.0 / double(s.n * s.m) + 1e-12);
                });
                ++cases;
              }
        }
    }
  }
  std::printf("    %d cost matrices compared\n", cases);
}

TEST("cuda vs cpu: cost_matrix_on (host in, host out) through the CUDA backend") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  const int64_t rows = 260, n = 96, m = 120;
  auto a = random_vector(size_t(rows * n), 21), b = random_vector(size_t(rows * m), 22);
  CostOptions o;
  o.normalize = Normalization::Median;
  std::vector<double> want(size_t(n * m)), got(size_t(n * m));
  const auto va = NeuronView::of_columns(a.data(), rows, n), vb = NeuronView::of_columns(b.data(), rows, m);
  ot::cost_matrix(va, vb, o, want.data(), m);
  ot::cost_matrix_on(*gpu, va, vb, o, got.data(), m);
  expect_close("cost_matrix_on", got, want, 1e-9, 1e-9);
}

struct SinkhornCase {
  int64_t n, m;
  double reg;
  double zero_fraction;  // of the marginals' entries
};

// A cost in [0, 1] (as the fusion's normalised costs are) and marginals.
void make_problem(const SinkhornCase& c, uint32_t seed, std::vector<double>& a, std::vector<double>& b,
                  std::vector<double>& cost) {
  cost = random_doubles(size_t(c.n * c.m), seed, 0.0, 1.0);
  if (c.zero_fraction > 0) {
    a = random_histogram(size_t(c.n), seed + 1, c.zero_fraction);
    b = random_histogram(size_t(c.m), seed + 2, c.zero_fraction);
  } else {
    a = uniform_histogram(size_t(c.n));
    b = uniform_histogram(size_t(c.m));
  }
}

// `batch` problems of n x m packed one after another, each with its own costs and
// marginals (odd ones with zero-mass rows and columns) and its costs scaled by 1 + 0.3 p,
// so that each stops on its own test.
void make_batch(int64_t batch, int64_t n, int64_t m, uint32_t seed, std::vector<double>& all_a,
                std::vector<double>& all_b, std::vector<double>& all_cost) {
  std::vector<double> a, b, cost;
  for (int64_t p = 0; p < batch; ++p) {
    make_problem({n, m, 0.03, p % 2 ? 0.15 : 0.0}, uint32_t(seed + p), a, b, cost);
    for (auto& x : cost) x *= 1.0 + 0.3 * double(p);
    all_a.insert(all_a.end(), a.begin(), a.end());
    all_b.insert(all_b.end(), b.begin(), b.end());
    all_cost.insert(all_cost.end(), cost.begin(), cost.end());
  }
}

// Problem p of a batch made by make_batch, solved by the CPU (`want`, `cpu`), and its plan
// taken from the GPU's packed plans (`got`).
struct BatchProblem {
  std::vector<double> want, got;
  ot::SinkhornResult cpu;
};
BatchProblem batch_problem(int64_t p, int64_t n, int64_t m, const std::vector<double>& all_a,
                           const std::vector<double>& all_b, const std::vector<double>& all_cost,
                           const SinkhornOptions& o, const std::vector<double>& plans) {
  const size_t off = size_t(p * n * m);
  BatchProblem out;
  out.want.resize(size_t(n * m));
  out.cpu = ot::sinkhorn(all_a.data() + p * n, all_b.data() + p * m, all_cost.data() + off, n, m, o, out.want.data());
  out.got.assign(plans.begin() + long(off), plans.begin() + long(off + size_t(n * m)));
  return out;
}

void compare_results(const std::string& name, const ot::SinkhornResult& g, const ot::SinkhornResult& w) {
  std::printf("    %s: iterations cuda %d, cpu %d; marginal error %.3g vs %.3g\n", name.c_str(), g.iterations,
              w.iterations, g.marginal_error, w.marginal_error);
  if (g.iterations != w.iterations)
    record_failure(__FILE__, __LINE__, name + ": iterations differ (cuda " + std::to_string(g.iterations) + ", cpu " +
                                           std::to_string(w.iterations) + ")");
  CHECK(g.converged == w.converged);
  CHECK_NEAR(g.transport_cost, w.transport_cost, 1e-7 * std::fabs(w.transport_cost) + 1e-15);
  CHECK_NEAR(g.marginal_error, w.marginal_error, 1e-6 * std::max(w.marginal_error, 1e-9) + 1e-12);
}

TEST("cuda vs cpu: log-domain Sinkhorn, float64 cost: plans within 1e-6, iterations equal") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  uint32_t seed = 100;
  for (SinkhornCase c : {SinkhornCase{1, 1, 0.1, 0}, SinkhornCase{5, 7, 0.05, 0}, SinkhornCase{64, 64, 0.01, 0},
                         SinkhornCase{100, 130, 0.05, 0}, SinkhornCase{257, 300, 0.02, 0},
                         SinkhornCase{512, 512, 0.1, 0}, SinkhornCase{90, 70, 0.05, 0.2},
                         SinkhornCase{384, 1536, 0.05, 0}}) {
    for (ot::SinkhornMethod method : {ot::SinkhornMethod::Scaling, ot::SinkhornMethod::LogSumExp}) {
      const std::string name = std::to_string(c.n) + "x" + std::to_string(c.m) + " reg " + std::to_string(c.reg) +
                               (c.zero_fraction > 0 ? " zero-mass" : "") +
                               (method == ot::SinkhornMethod::Scaling ? " vs cpu scaling" : " vs cpu logsumexp");
      part(name, [&] {
        std::vector<double> a, b, cost;
        make_problem(c, seed, a, b, cost);
        SinkhornOptions o;
        o.reg = c.reg;
        o.method = method;
        std::vector<double> want(cost.size());
        const auto w = ot::sinkhorn(a.data(), b.data(), cost.data(), c.n, c.m, o, want.data());
        auto ga = upload_to(*gpu, a), gb = upload_to(*gpu, b), gc = upload_to(*gpu, cost);
        DeviceBuffer gp(*gpu, cost.size() * sizeof(double));
        const auto g = cuda::ot::sinkhorn(ga.get<double>(), gb.get<double>(), gc.get<double>(), c.n, c.m, o,
                                          gp.get<double>());
        expect_plan_close(name + " plan", download_from<double>(gp), want, 1e-6);
        compare_results(name, g, w);
      });
    }
    seed += 10;
  }
}

TEST("cuda vs cpu: Sinkhorn that runs out of iterations, and sinkhorn_on through the backend") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  part("max_iter 25, reg 0.002", [&] {
    SinkhornCase c{200, 150, 0.002, 0};
    std::vector<double> a, b, cost;
    make_problem(c, 300, a, b, cost);
    SinkhornOptions o;
    o.reg = c.reg;
    o.max_iter = 25;
    std::vector<double> want(cost.size()), got(cost.size()), lu(static_cast<size_t>(c.n)), lv(static_cast<size_t>(c.m));
    const auto w = ot::sinkhorn(a.data(), b.data(), cost.data(), c.n, c.m, o, want.data());
    const auto g = ot::sinkhorn_on(*gpu, a.data(), b.data(), cost.data(), c.n, c.m, o, got.data(), lu.data(), lv.data());
    CHECK(!g.converged);
    CHECK(g.iterations == 25);
    expect_plan_close("plan after 25 iterations", got, want, 1e-6);
    compare_results("max_iter", g, w);
    // The potentials give back the plan: P = exp(log_u + log_v - C / reg).
    std::vector<double> rebuilt(cost.size());
    for (int64_t i = 0; i < c.n; ++i)
      for (int64_t j = 0; j < c.m; ++j)
        rebuilt[size_t(i * c.m + j)] = std::exp(lu[size_t(i)] + lv[size_t(j)] - cost[size_t(i * c.m + j)] / c.reg);
    expect_plan_close("plan from log_u, log_v", rebuilt, got, 1e-9);
  });
}

TEST("cuda vs cpu: Sinkhorn on a float32 cost, against the cpu on the float-rounded cost") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  uint32_t seed = 400;
  for (SinkhornCase c : {SinkhornCase{64, 64, 0.01, 0}, SinkhornCase{257, 300, 0.05, 0}, SinkhornCase{1024, 1024, 0.05, 0}}) {
    const std::string name = "float cost " + std::to_string(c.n) + "x" + std::to_string(c.m);
    part(name, [&] {
      std::vector<double> a, b, cost;
      make_problem(c, seed++, a, b, cost);
      std::vector<float> fcost(cost.size());
      for (size_t i = 0; i < cost.size(); ++i) {
        fcost[i] = float(cost[i]);
        cost[i] = double(fcost[i]);
      }
      SinkhornOptions o;
      o.reg = c.reg;
      std::vector<double> want(cost.size());
      const auto w = ot::sinkhorn(a.data(), b.data(), cost.data(), c.n, c.m, o, want.data());
      auto ga = upload_to(*gpu, a), gb = upload_to(*gpu, b), gc = upload_to(*gpu, fcost);
      DeviceBuffer gp(*gpu, cost.size() * sizeof(double));
      const auto g = cuda::ot::sinkhorn(ga.get<double>(), gb.get<double>(), gc.get<float>(), c.n, c.m, o,
                                        gp.get<double>());
      expect_plan_close(name + " plan", download_from<double>(gp), want, 1e-6);
      compare_results(name, g, w);
    });
  }
}

// The float32 kernel mode (SinkhornOptions::gpu_float_kernel) iterates a problem whose
// kernel is rounded to float32 (6e-8 relative per entry): its plan is the CPU's to a
// looser bound than the float64 passes', its iteration count may differ, and its reported
// marginal error (of the plan written from the potentials in float64) may sit somewhat
// above the tolerance that its own stopping test met.
TEST("cuda vs cpu: Sinkhorn in float32 kernel mode, single, batched and with epsilon scaling") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  uint32_t seed = 700;
  auto check = [&](const std::string& name, const ot::SinkhornResult& g, const ot::SinkhornResult& w,
                   const std::vector<double>& got, const std::vector<double>& want, double b_norm) {
    std::printf("    %s: iterations cuda %d, cpu %d; marginal error %.3g vs %.3g; kernels built %d\n", name.c_str(),
                g.iterations, w.iterations, g.marginal_error, w.marginal_error, g.absorptions);
    expect_plan_close(name + " plan", got, want, 1e-4);
    CHECK(g.converged == w.converged);
    CHECK(g.absorptions >= 1);
    CHECK_NEAR(g.transport_cost, w.transport_cost, 1e-5 * std::fabs(w.transport_cost) + 1e-15);
    CHECK(g.marginal_error <= std::max(10 * w.marginal_error, 1e-6 * b_norm));
  };
  auto norm = [](const std::vector<double>& x) {
    double s = 0;
    for (double v : x) s += v * v;
    return std::sqrt(s);
  };
  for (SinkhornCase c : {SinkhornCase{64, 64, 0.01, 0}, SinkhornCase{257, 300, 0.02, 0},
                         SinkhornCase{90, 70, 0.05, 0.2}, SinkhornCase{1024, 1024, 0.05, 0}}) {
    for (bool float_cost : {false, true}) {
      const std::string name = "float32 kernel, " + std::to_string(c.n) + "x" + std::to_string(c.m) + " reg " +
                                std::to_string(c.reg) + (c.zero_fraction > 0 ? " zero-mass" : "") +
                                (float_cost ? ", float cost" : ", double cost");
      part(name, [&] {
        std::vector<double> a, b, cost;
        make_problem(c, seed++, a, b, cost);
        std::vector<float> fcost(cost.begin(), cost.end());
        if (float_cost)
          for (size_t i = 0; i < cost.size(); ++i) cost[i] = double(fcost[i]);
        SinkhornOptions o;
        o.reg = c.reg;
        std::vector<double> want(cost.size());
        const auto w = ot::sinkhorn(a.data(), b.data(), cost.data(), c.n, c.m, o, want.data());
        o.gpu_float_kernel = true;
        auto ga = upload_to(*gpu, a), gb = upload_to(*gpu, b), gc = upload_to(*gpu, cost), gf = upload_to(*gpu, fcost);
        DeviceBuffer gp(*gpu, cost.size() * sizeof(double));
        const auto g = float_cost ? cuda::ot::sinkhorn(ga.get<double>(), gb.get<double>(), gf.get<float>(), c.n, c.m,
                                                       o, gp.get<double>())
                                  : cuda::ot::sinkhorn(ga.get<double>(), gb.get<double>(), gc.get<double>(), c.n, c.m,
                                                       o, gp.get<double>());
        check(name, g, w, download_from<double>(gp), want, norm(b));
      });
    }
  }
  part("float32 kernel, batch of 5, 96x80", [&] {
    const int64_t batch = 5, n = 96, m = 80;
    std::vector<double> all_a, all_b, all_cost;
    make_batch(batch, n, m, 800, all_a, all_b, all_cost);
    SinkhornOptions o;
    o.reg = 0.03;
    o.gpu_float_kernel = true;
    auto ga = upload_to(*gpu, all_a), gb = upload_to(*gpu, all_b), gc = upload_to(*gpu, all_cost);
    DeviceBuffer gp(*gpu, all_cost.size() * sizeof(double));
    const auto results = cuda::ot::sinkhorn_batched(ga.get<double>(), gb.get<double>(), gc.get<double>(), batch, n, m,
                                                    o, gp.get<double>());
    const auto plans = download_from<double>(gp);
    CHECK(results.size() == size_t(batch));
    o.gpu_float_kernel = false;
    for (int64_t p = 0; p < batch && size_t(p) < results.size(); ++p) {
      const BatchProblem q = batch_problem(p, n, m, all_a, all_b, all_cost, o, plans);
      const std::vector<double> bp(all_b.begin() + p * m, all_b.begin() + (p + 1) * m);
      check("float32 kernel, batch problem " + std::to_string(p), results[size_t(p)], q.cpu, q.got, q.want, norm(bp));
    }
  });
  part("float32 kernel, epsilon scaling to reg 0.003", [&] {
    SinkhornCase c{150, 180, 0.003, 0};
    std::vector<double> a, b, cost;
    make_problem(c, 900, a, b, cost);
    SinkhornOptions o;
    o.reg = c.reg;
    o.epsilon_scaling.enabled = true;
    o.epsilon_scaling.reg_start = 0.5;
    std::vector<double> want(cost.size());
    const auto w = ot::sinkhorn(a.data(), b.data(), cost.data(), c.n, c.m, o, want.data());
    o.gpu_float_kernel = true;
    auto ga = upload_to(*gpu, a), gb = upload_to(*gpu, b), gc = upload_to(*gpu, cost);
    DeviceBuffer gp(*gpu, cost.size() * sizeof(double));
    const auto g = cuda::ot::sinkhorn(ga.get<double>(), gb.get<double>(), gc.get<double>(), c.n, c.m, o,
                                      gp.get<double>());
    check("float32 kernel, epsilon scaling", g, w, download_from<double>(gp), want, norm(b));
  });
}

TEST("cuda vs cpu: Sinkhorn with epsilon scaling") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  for (double reg_start : {0.0, 0.5}) {
    const std::string name = "epsilon scaling to reg 0.003, reg_start " + std::to_string(reg_start);
    part(name, [&] {
      SinkhornCase c{150, 180, 0.003, 0};
      std::vector<double> a, b, cost;
      make_problem(c, 500, a, b, cost);
      SinkhornOptions o;
      o.reg = c.reg;
      o.epsilon_scaling.enabled = true;
      o.epsilon_scaling.reg_start = reg_start;
      std::vector<double> want(cost.size()), got(cost.size());
      const auto w = ot::sinkhorn(a.data(), b.data(), cost.data(), c.n, c.m, o, want.data());
      const auto g = ot::sinkhorn_on(*gpu, a.data(), b.data(), cost.data(), c.n, c.m, o, got.data());
      expect_plan_close(name + " plan", got, want, 1e-6);
      compare_results(name, g, w);
    });
  }
}

TEST("cuda vs cpu: batched Sinkhorn, every problem against its own cpu solve") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  for (bool float_cost : {false, true}) {
    const int64_t batch = 6, n = 96, m = 80;
    const std::string name = std::string("batch of 6, 96x80, ") + (float_cost ? "float" : "double") + " cost";
    part(name, [&] {
      std::vector<double> all_a, all_b, all_cost;
      make_batch(batch, n, m, 600, all_a, all_b, all_cost);
      std::vector<float> all_fcost(all_cost.begin(), all_cost.end());
      if (float_cost)
        for (size_t i = 0; i < all_cost.size(); ++i) all_cost[i] = double(all_fcost[i]);
      SinkhornOptions o;
      o.reg = 0.03;
      auto ga = upload_to(*gpu, all_a), gb = upload_to(*gpu, all_b), gc = upload_to(*gpu, all_cost),
           gf = upload_to(*gpu, all_fcost);
      DeviceBuffer gp(*gpu, all_cost.size() * sizeof(double));
      const auto results =
          float_cost ? cuda::ot::sinkhorn_batched(ga.get<double>(), gb.get<double>(), gf.get<float>(), batch, n, m, o,
                                                  gp.get<double>())
                     : cuda::ot::sinkhorn_batched(ga.get<double>(), gb.get<double>(), gc.get<double>(), batch, n, m, o,
                                                  gp.get<double>());
      const auto plans = download_from<double>(gp);
      CHECK(results.size() == size_t(batch));
      for (int64_t p = 0; p < batch && size_t(p) < results.size(); ++p) {
        const BatchProblem q = batch_problem(p, n, m, all_a, all_b, all_cost, o, plans);
        const std::string pn = name + " problem " + std::to_string(p);
        expect_plan_close(pn + " plan", q.got, q.want, 1e-6);
        compare_results(pn, results[size_t(p)], q.cpu);
      }
    });
  }
}

TEST("cuda vs cpu: map arithmetic and activity statistics are bit-identical") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  for (int64_t n : {1, 37, 192, 768})
    for (int64_t m : {1, 64, 384}) {
      part("combine_maps " + std::to_string(n) + "x" + std::to_string(m), [&] {
        auto tr = random_vector(size_t(n * m), 31), ts = random_vector(size_t(n * m), 32);
        auto wr = random_vector(size_t(m), 33, 0.0f, 1.0f), ws = random_vector(size_t(m), 34, 0.0f, 1.0f);
        std::vector<float> want(size_t(n * m));
        fusion::combine_maps(tr.data(), ts.data(), wr.data(), ws.data(), n, m, want.data());
        auto g1 = upload_to(*gpu, tr), g2 = upload_to(*gpu, ts), g3 = upload_to(*gpu, wr), g4 = upload_to(*gpu, ws);
        DeviceBuffer out(*gpu, want.size() * sizeof(float));
        cuda::fusion::combine_maps(g1.get<float>(), g2.get<float>(), g3.get<float>(), g4.get<float>(), n, m,
                                   out.get<float>());
        expect_identical("combine_maps", download_from<float>(out), want);
      });
    }
  for (int64_t rows : {1, 2, 65, 3000, 13000})
    for (int64_t cols : {1, 192, 1536}) {
      if (rows * cols > 6000000) continue;
      part("statistics " + std::to_string(rows) + "x" + std::to_string(cols), [&] {
        auto x = random_vector(size_t(rows * cols), uint32_t(41 + rows), -3.0f, 5.0f),
             y = random_vector(size_t(rows * cols), uint32_t(42 + cols), -1.0f, 1.0f);
        auto gx = upload_to(*gpu, x), gy = upload_to(*gpu, y);
        for (int count : {1, 2}) {
          std::vector<double> want(static_cast<size_t>(cols));
          const float* hs[2] = {x.data(), y.data()};
          fusion::column_mean_abs(hs, count, rows, cols, want.data());
          const float* ds[2] = {gx.get<float>(), gy.get<float>()};
          DeviceBuffer out(*gpu, want.size() * sizeof(double));
          cuda::fusion::column_mean_abs(ds, count, rows, cols, out.get<double>());
          expect_identical("column_mean_abs of " + std::to_string(count), download_from<double>(out), want);
        }
        std::vector<double> mean(static_cast<size_t>(cols)), sd(static_cast<size_t>(cols));
        fusion::column_mean_std(x.data(), rows, cols, mean.data(), sd.data());
        DeviceBuffer gm(*gpu, mean.size() * sizeof(double)), gs(*gpu, sd.size() * sizeof(double));
        cuda::fusion::column_mean_std(gx.get<float>(), rows, cols, gm.get<double>(), gs.get<double>());
        expect_identical("column mean", download_from<double>(gm), mean);
        expect_identical("column std", download_from<double>(gs), sd);
      });
    }
  part("repair_rows", [&] {
    const int64_t rows = 384, cols = 192;
    auto w = random_vector(size_t(rows * cols), 51), b = random_vector(size_t(rows), 52);
    auto mean = random_doubles(size_t(rows), 53, -1, 1), sd = random_doubles(size_t(rows), 54, 0, 2),
         tm = random_doubles(size_t(rows), 55, -1, 1), ts = random_doubles(size_t(rows), 56, 0.1, 2);
    sd[0] = 0.0;  // a neuron with no spread: only shifted
    sd[1] = 1e-30;
    auto gw = upload_to(*gpu, w), gb = upload_to(*gpu, b), g1 = upload_to(*gpu, mean), g2 = upload_to(*gpu, sd),
         g3 = upload_to(*gpu, tm), g4 = upload_to(*gpu, ts);
    fusion::repair_rows(w.data(), b.data(), rows, cols, mean.data(), sd.data(), tm.data(), ts.data());
    cuda::fusion::repair_rows(gw.get<float>(), gb.get<float>(), rows, cols, g1.get<double>(), g2.get<double>(),
                              g3.get<double>(), g4.get<double>());
    expect_identical("repaired weight", download_from<float>(gw), w);
    expect_identical("repaired bias", download_from<float>(gb), b);
  });
}

TEST("cuda vs cpu: the fusion's transport map on the CUDA backend (Sinkhorn and exact OT)") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  const int64_t rows = 650, n = 192, m = 160;
  auto a = random_vector(size_t(rows * n), 61), b = random_vector(size_t(rows * m), 62);
  const auto va = NeuronView::of_columns(a.data(), rows, n), vb = NeuronView::of_columns(b.data(), rows, m);
  for (fusion::Solver solver : {fusion::Solver::Sinkhorn, fusion::Solver::Emd}) {
    const std::string name = solver == fusion::Solver::Sinkhorn ? "sinkhorn map" : "emd map";
    part(name, [&] {
      fusion::MapOptions o;
      o.cost.normalize = Normalization::Max;
      o.solver = solver;
      o.sinkhorn.reg = 0.05;
      std::vector<float> want(size_t(n * m)), got(size_t(n * m));
      const auto dw = fusion::transport_map(cpu_backend(), va, vb, o, want.data());
      const auto dg = fusion::transport_map(*gpu, va, vb, o, got.data());
      CHECK(dw.device == "cpu");
      CHECK(dg.device == "cuda");
      CHECK(dg.solver == dw.solver);
      CHECK(dg.iterations == dw.iterations);
      CHECK_NEAR(dg.cost_scale, dw.cost_scale, 1e-9 * dw.cost_scale);
      CHECK_NEAR(dg.permutation_score, dw.permutation_score, 1e-6);
      std::printf("    %s: %s, %lld iterations (cpu %lld)\n", name.c_str(), dg.solver.c_str(),
                  (long long)dg.iterations, (long long)dw.iterations);
      expect_close(name, got, want, 1e-6, 1e-5);
      // Neurons already on the GPU (a store resident there) are read in place: same map.
      auto ga = upload_to(*gpu, a), gb = upload_to(*gpu, b);
      NeuronView ra = NeuronView::of_columns(ga.get<float>(), rows, n), rb = NeuronView::of_columns(gb.get<float>(), rows, m);
      ra.on_device = rb.on_device = true;
      std::vector<float> resident(got.size());
      fusion::transport_map(*gpu, ra, rb, o, resident.data());
      expect_identical(name + " from device-resident neurons", resident, got);
      CHECK_THROWS(fusion::transport_map(cpu_backend(), ra, rb, o, resident.data()));
    });
  }
  part("maps of one shape solved together (transport_maps)", [&] {
    // Three problems of one shape (one batched solve) and one of another (alone): each as
    // transport_map on the GPU gives it, the iterations included.
    auto c = random_vector(size_t(rows * n), 63), e = random_vector(size_t(rows * m), 64);
    auto f = random_vector(size_t(rows * m), 65);
    const std::vector<NeuronView> as = {va, NeuronView::of_columns(c.data(), rows, n), va, vb};
    const std::vector<NeuronView> bs = {vb, NeuronView::of_columns(e.data(), rows, m), NeuronView::of_columns(f.data(), rows, m), va};
    fusion::MapOptions o;
    o.cost.normalize = Normalization::Max;
    o.solver = fusion::Solver::Sinkhorn;
    o.sinkhorn.reg = 0.05;
    std::vector<std::vector<float>> got(as.size());
    std::vector<float*> maps;
    for (size_t k = 0; k < as.size(); ++k) {
      got[k].resize(size_t(as[k].count * bs[k].count));
      maps.push_back(got[k].data());
    }
    const auto diags = fusion::transport_maps(*gpu, as, bs, o, maps);
    for (size_t k = 0; k < as.size(); ++k) {
      std::vector<float> want(got[k].size());
      const auto d = fusion::transport_map(*gpu, as[k], bs[k], o, want.data());
      CHECK(diags[k].device == "cuda");
      CHECK(diags[k].iterations == d.iterations);
      CHECK_NEAR(diags[k].transport_cost, d.transport_cost, 1e-9 * std::fabs(d.transport_cost) + 1e-15);
      expect_close("batched map " + std::to_string(k), got[k], want, 1e-6, 1e-5);
    }
  });
  part("statistics where the activations live", [&] {
    auto ga = upload_to(*gpu, a);
    const float* hs[1] = {a.data()};
    const float* ds[1] = {ga.get<float>()};
    const size_t cols = static_cast<size_t>(n);
    std::vector<double> want(cols), got(cols), mean(cols), sd(cols), gmean(cols), gsd(cols);
    fusion::column_mean_abs(hs, 1, rows, n, want.data());
    fusion::column_mean_abs_on(*gpu, ds, 1, rows, n, got.data());
    expect_identical("column_mean_abs_on", got, want);
    fusion::column_mean_std(a.data(), rows, n, mean.data(), sd.data());
    fusion::column_mean_std_on(*gpu, ga.get<float>(), rows, n, gmean.data(), gsd.data());
    expect_identical("column_mean_std_on mean", gmean, mean);
    expect_identical("column_mean_std_on std", gsd, sd);
  });
}

}  // namespace
}  // namespace tf::test
