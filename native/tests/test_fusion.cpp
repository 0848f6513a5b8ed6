// The fusion core's own kernels: transport maps (scaling and permutation score), the
// residual policies' map combination, activity, and statistics repair, against float64
// re-derivations.
#include <cmath>
#include <numeric>
#include <vector>

#include "../core/fusion/fusion.h"
#include "check.h"
#include "ot_test_util.h"
#include "test_device.h"

namespace tf::test {
namespace {

TEST("fusion: a permuted copy gives the permutation as map, rows summing to 1") {
  const int64_t rows = 30, n = 7;
  auto b = random_vector(size_t(rows * n), 31);
  const std::vector<int64_t> perm = {3, 0, 6, 1, 5, 2, 4};
  const std::vector<float> a = permute_columns(b, rows, perm);
  std::vector<float> map(static_cast<size_t>(n * n));
  fusion::MapOptions o;
  auto d = fusion::transport_map(ot::NeuronView::of_columns(a.data(), rows, n), ot::NeuronView::of_columns(b.data(), rows, n), o,
                                 map.data());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) CHECK_NEAR(map[size_t(i * n + j)], j == perm[size_t(i)] ? 1.0 : 0.0, 1e-6);
  CHECK_NEAR(d.permutation_score, 1.0, 1e-12);
  CHECK_NEAR(d.transport_cost, 0.0, 1e-12);
}

TEST("fusion: rectangular maps scale by n: rows sum to 1, columns to n / m") {
  const int64_t rows = 20, n = 6, m = 4;
  auto a = random_vector(size_t(rows * n), 32), b = random_vector(size_t(rows * m), 33);
  for (auto solver : {fusion::Solver::Emd, fusion::Solver::Sinkhorn}) {
    fusion::MapOptions o;
    o.solver = solver;
    o.sinkhorn.reg = 0.1;
    std::vector<float> map(static_cast<size_t>(n * m));
    auto d = fusion::transport_map(ot::NeuronView::of_columns(a.data(), rows, n), ot::NeuronView::of_columns(b.data(), rows, m), o,
                                   map.data());
    for (int64_t i = 0; i < n; ++i) {
      double s = 0;
      for (int64_t j = 0; j < m; ++j) s += map[size_t(i * m + j)];
      CHECK_NEAR(s, 1.0, 1e-5);
    }
    for (int64_t j = 0; j < m; ++j) {
      double s = 0;
      for (int64_t i = 0; i < n; ++i) s += map[size_t(i * m + j)];
      CHECK_NEAR(s, double(n) / double(m), solver == fusion::Solver::Emd ? 1e-5 : 1e-3);
    }
    CHECK(d.permutation_score > 0.0 && d.permutation_score <= 1.0 + 1e-12);
  }
}

TEST("fusion: transport_maps gives each problem's transport_map, shapes mixed") {
  const int64_t rows = 25;
  const std::vector<std::pair<int64_t, int64_t>> shapes = {{6, 4}, {6, 4}, {5, 5}, {6, 4}, {3, 7}};
  std::vector<std::vector<float>> xs, ys, want, got;
  std::vector<ot::NeuronView> as, bs;
  std::vector<float*> maps;
  for (size_t k = 0; k < shapes.size(); ++k) {
    xs.push_back(random_vector(size_t(rows * shapes[k].first), uint32_t(40 + k)));
    ys.push_back(random_vector(size_t(rows * shapes[k].second), uint32_t(60 + k)));
    want.emplace_back(size_t(shapes[k].first * shapes[k].second));
    got.emplace_back(want.back().size());
  }
  for (size_t k = 0; k < shapes.size(); ++k) {
    as.push_back(ot::NeuronView::of_columns(xs[k].data(), rows, shapes[k].first));
    bs.push_back(ot::NeuronView::of_columns(ys[k].data(), rows, shapes[k].second));
    maps.push_back(got[k].data());
  }
  for (auto solver : {fusion::Solver::Sinkhorn, fusion::Solver::Emd}) {
    fusion::MapOptions o;
    o.solver = solver;
    o.sinkhorn.reg = 0.05;
    const auto diags = fusion::transport_maps(cpu_backend(), as, bs, o, maps);
    CHECK(diags.size() == shapes.size());
    for (size_t k = 0; k < shapes.size(); ++k) {
      const auto d = fusion::transport_map(as[k], bs[k], o, want[k].data());
      CHECK(got[k] == want[k]);
      CHECK(diags[k].solver == d.solver && diags[k].iterations == d.iterations);
      CHECK(diags[k].transport_cost == d.transport_cost && diags[k].permutation_score == d.permutation_score);
    }
  }
  std::vector<ot::NeuronView> fewer(bs.begin(), bs.end() - 1);
  CHECK_THROWS(fusion::transport_maps(cpu_backend(), as, fewer, fusion::MapOptions{}, maps));
}

TEST("fusion: combine_maps weighs columns, column_mean_abs sums the parts first") {
  const int64_t n = 3, m = 4;
  auto r = random_vector(size_t(n * m), 34), s = random_vector(size_t(n * m), 35);
  std::vector<float> wr = {0.1f, 0.2f, 0.3f, 0.4f}, ws = {0.9f, 0.8f, 0.7f, 0.6f}, out(size_t(n * m));
  fusion::combine_maps(r.data(), s.data(), wr.data(), ws.data(), n, m, out.data());
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j)
      CHECK_NEAR(out[size_t(i * m + j)], double(r[size_t(i * m + j)]) * wr[size_t(j)] + double(s[size_t(i * m + j)]) * ws[size_t(j)], 1e-6);
  const int64_t rows = 50;
  auto x = random_vector(size_t(rows * m), 36), y = random_vector(size_t(rows * m), 37);
  const float* parts[2] = {x.data(), y.data()};
  std::vector<double> act(static_cast<size_t>(m));
  fusion::column_mean_abs(parts, 2, rows, m, act.data());
  for (int64_t c = 0; c < m; ++c) {
    double want = 0;
    for (int64_t k = 0; k < rows; ++k) want += std::fabs(double(x[size_t(k * m + c)]) + double(y[size_t(k * m + c)]));
    CHECK_NEAR(act[size_t(c)], want / double(rows), 1e-9);
  }
}

TEST("fusion: statistics repair moves a layer's outputs onto the target statistics") {
  const int64_t samples = 200, in = 5, out = 4;
  auto x = random_vector(size_t(samples * in), 38, -2.0f, 2.0f);
  auto w = random_vector(size_t(out * in), 39), bias = random_vector(size_t(out), 40);
  auto outputs = [&](const std::vector<float>& ww, const std::vector<float>& bb) {
    std::vector<float> y(static_cast<size_t>(samples * out));
    for (int64_t s = 0; s < samples; ++s)
      for (int64_t j = 0; j < out; ++j) {
        double v = bb[size_t(j)];
        for (int64_t k = 0; k < in; ++k) v += double(ww[size_t(j * in + k)]) * x[size_t(s * in + k)];
        y[size_t(s * out + j)] = float(v);
      }
    return y;
  };
  auto y = outputs(w, bias);
  std::vector<double> mean(static_cast<size_t>(out)), sd(static_cast<size_t>(out));
  fusion::column_mean_std(y.data(), samples, out, mean.data(), sd.data());
  for (int64_t j = 0; j < out; ++j) {
    double m = 0, v = 0;
    for (int64_t s = 0; s < samples; ++s) m += y[size_t(s * out + j)];
    m /= samples;
    for (int64_t s = 0; s < samples; ++s) v += (y[size_t(s * out + j)] - m) * (y[size_t(s * out + j)] - m);
    CHECK_NEAR(mean[size_t(j)], m, 1e-9);
    CHECK_NEAR(sd[size_t(j)], std::sqrt(v / samples), 1e-9);
  }
  const std::vector<double> target_mean = {1.0, -2.0, 0.5, 3.0}, target_sd = {0.5, 2.0, 1.0, 0.1};
  fusion::repair_rows(w.data(), bias.data(), out, in, mean.data(), sd.data(), target_mean.data(), target_sd.data());
  auto repaired = outputs(w, bias);
  fusion::column_mean_std(repaired.data(), samples, out, mean.data(), sd.data());
  for (int64_t j = 0; j < out; ++j) {
    CHECK_NEAR(mean[size_t(j)], target_mean[size_t(j)], 1e-5);
    CHECK_NEAR(sd[size_t(j)], target_sd[size_t(j)], 1e-5);
  }
}

}  // namespace
}  // namespace tf::test
