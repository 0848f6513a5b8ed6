// Cost matrix -> OT plan -> transport map, with the diagnostics the fusion report shows.
#include <algorithm>
#include <cmath>
#include <memory>
#include <vector>

#include "../backend.h"
#include "../error.h"
#include "../ot/big_buffer.h"
#include "../ot/ot_device.h"
#include "../thread_pool.h"
#include "fusion.h"
#include "pca.h"
#ifdef TF_WITH_CUDA
#include "../cuda/ot_cuda.h"
#endif

namespace tf::fusion {

namespace {

double permutation_score(const double* plan, int64_t n, int64_t m) {
  double total = 0.0;
  int64_t rows = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double* row = plan + i * m;
    double sum = 0.0, best = 0.0;
    for (int64_t j = 0; j < m; ++j) {
      sum += row[j];
      best = std::max(best, row[j]);
    }
    if (sum > 0.0) {
      total += best / sum;
      ++rows;
    }
  }
  return rows ? total / double(rows) : 0.0;
}

void record_sinkhorn(MapDiagnostics& d, const ot::SinkhornResult& r) {
  d.solver = "sinkhorn";
  d.iterations = r.iterations;
  d.marginal_error = r.marginal_error;
  d.converged = r.converged;
  d.transport_cost = r.transport_cost;
}

// The plan (n x m, rows summing to 1/n) -> the map (rows summing to 1), and how close it is to a permutation.
void finish_map(const double* plan, int64_t n, int64_t m, float* map, MapDiagnostics& d) {
  d.permutation_score = permutation_score(plan, n, m);
  const double scale = double(n);
  parallel_for(n * m, 1 << 15, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i) map[i] = float(plan[size_t(i)] * scale);
  });
}


#ifdef TF_WITH_CUDA
// The cost matrix on the GPU (the neurons copied there), then Sinkhorn on the GPU with
// the cost left in place; only the plan comes back. Exact OT has no GPU solver: the cost
// comes back instead and the caller solves on the CPU. True when the plan is done.
bool cuda_cost_and_plan(Backend& be, const ot::NeuronView& a, const ot::NeuronView& b, const MapOptions& options,
                        const std::vector<double>& mu, const std::vector<double>& nu, double* plan,
                        std::unique_ptr<ot::BigBuffer>& cost, MapDiagnostics& d, TaskContext* ctx) {
  const int64_t n = a.count, m = b.count;
  const size_t nm = size_t(n * m);
  // Neurons from a device-resident activation store are read in place; others are copied.
  std::unique_ptr<DeviceBuffer> da, db;
  const ot::NeuronView va = ot::on_backend(be, a, da), vb = ot::on_backend(be, b, db);
  DeviceBuffer dcost(be, nm * sizeof(double));
  d.cost_scale = cuda::ot::cost_matrix(va, vb, options.cost, dcost.get<double>(), m, ctx).scale;
  d.device = "cuda";
  if (options.solver != Solver::Sinkhorn) {
    cost = std::make_unique<ot::BigBuffer>(nm);
    dcost.download(cost->get());
    return false;
  }
  if (ctx) ctx->check_cancelled();
  DeviceBuffer dmu(be, size_t(n) * sizeof(double)), dnu(be, size_t(m) * sizeof(double)), dplan(be, nm * sizeof(double));
  dmu.upload(mu.data());
  dnu.upload(nu.data());
  ot::SinkhornResult r = cuda::ot::sinkhorn(dmu.get<double>(), dnu.get<double>(), dcost.get<double>(), n, m,
                                            options.sinkhorn, dplan.get<double>(), nullptr, nullptr, ctx);
  dplan.download(plan);
  record_sinkhorn(d, r);
  return true;
}

// Problems `group` (indices into the lists) of one shape n x m, Sinkhorn on the GPU: the
// costs computed side by side on the device, then one batched solve for all of them.
void cuda_batched_maps(Backend& be, const std::vector<size_t>& group, const std::vector<ot::NeuronView>& as,
                       const std::vector<ot::NeuronView>& bs, const MapOptions& options, const std::vector<float*>& maps,
                       std::vector<MapDiagnostics>& diags, TaskContext* ctx) {
  const int64_t batch = int64_t(group.size()), n = as[group[0]].count, m = bs[group[0]].count;
  const size_t nm = size_t(n * m);
  DeviceBuffer dcost(be, size_t(batch) * nm * sizeof(double));
  for (int64_t k = 0; k < batch; ++k) {
    std::unique_ptr<DeviceBuffer> da, db;
    const size_t i = group[size_t(k)];
    const ot::NeuronView va = ot::on_backend(be, as[i], da), vb = ot::on_backend(be, bs[i], db);
    diags[i].cost_scale =
        cuda::ot::cost_matrix(va, vb, options.cost, dcost.get<double>() + size_t(k) * nm, m, nullptr).scale;
    diags[i].device = "cuda";
    if (ctx) ctx->check_cancelled();
  }
  std::vector<double> mu(size_t(batch * n), 1.0 / double(n)), nu(size_t(batch * m), 1.0 / double(m));
  DeviceBuffer dmu(be, mu.size() * sizeof(double)), dnu(be, nu.size() * sizeof(double));
  DeviceBuffer dplan(be, size_t(batch) * nm * sizeof(double));
  dmu.upload(mu.data());
  dnu.upload(nu.data());
  std::vector<ot::SinkhornResult> r = cuda::ot::sinkhorn_batched(dmu.get<double>(), dnu.get<double>(), dcost.get<double>(),
                                                                 batch, n, m, options.sinkhorn, dplan.get<double>(),
                                                                 nullptr, nullptr, ctx);
  ot::BigBuffer plan(nm);
  for (int64_t k = 0; k < batch; ++k) {
    const size_t i = group[size_t(k)];
    be.copy_to_host(plan.get(), dplan.get<double>() + size_t(k) * nm, nm * sizeof(double));
    record_sinkhorn(diags[i], r[size_t(k)]);
    finish_map(plan.get(), n, m, maps[i], diags[i]);
  }
}
#endif

}  // namespace

MapDiagnostics transport_map(const ot::NeuronView& a, const ot::NeuronView& b, const MapOptions& options, float* map,
                             TaskContext* ctx) {
  return transport_map(cpu_backend(), a, b, options, map, ctx);
}

MapDiagnostics transport_map(Backend& be, const ot::NeuronView& a_in, const ot::NeuronView& b_in,
                             const MapOptions& options, float* map, TaskContext* ctx) {
  TF_CHECK(a_in.count > 0 && b_in.count > 0, "transport_map: both sides need at least one neuron");
  TF_CHECK(a_in.dim == b_in.dim, "transport_map: the two sides' neurons have different numbers of features (" +
                                     std::to_string(a_in.dim) + " and " + std::to_string(b_in.dim) + ")");
  // With PCA the cost compares the neurons' principal-direction features instead.
  PcaFeatures pca;
  if (options.pca_k > 0) pca = pca_features(a_in, b_in, options.pca_k, ctx);
  const ot::NeuronView a = options.pca_k > 0 ? ot::NeuronView::of_rows(pca.a.data(), a_in.count, pca.dim) : a_in;
  const ot::NeuronView b = options.pca_k > 0 ? ot::NeuronView::of_rows(pca.b.data(), b_in.count, pca.dim) : b_in;
  const int64_t n = a.count, m = b.count;
  std::vector<double> mu(size_t(n), 1.0 / double(n)), nu(size_t(m), 1.0 / double(m));
  // Pooled buffers (big_buffer.h): a fusion solves one problem per aligned layer, of a
  // handful of shapes, so after the first layers these pages are never faulted in again.
  ot::BigBuffer plan(size_t(n * m));
  std::unique_ptr<ot::BigBuffer> cost;  // on the host: always for the CPU, for exact OT on the GPU
  MapDiagnostics d;
  bool solved = false;
  if (be.device() != Device::Cpu) {
#ifdef TF_WITH_CUDA
    solved = cuda_cost_and_plan(be, a, b, options, mu, nu, plan.get(), cost, d, ctx);
#else
    throw Error("CUDA is not available: " + cuda_unavailable_reason());
#endif
  } else {
    ot::check_host_view(a, "transport_map");
    ot::check_host_view(b, "transport_map");
    cost = std::make_unique<ot::BigBuffer>(size_t(n * m));
    d.cost_scale = ot::cost_matrix(a, b, options.cost, cost->get(), m, ctx).scale;
  }
  if (ctx) ctx->check_cancelled();

  if (!solved && options.solver == Solver::Sinkhorn) {
    record_sinkhorn(d, ot::sinkhorn(mu.data(), nu.data(), cost->get(), n, m, options.sinkhorn, plan.get(), nullptr,
                                    nullptr, ctx));
  } else if (!solved) {
    ot::EmdOptions eo;
    std::vector<double> u(static_cast<size_t>(n)), v(static_cast<size_t>(m));  // duals: not needed here, but the solver writes them
    ot::EmdResult r = ot::emd(mu.data(), nu.data(), cost->get(), n, m, eo, plan.get(), u.data(), v.data(), ctx);
    d.solver = r.solver == ot::EmdSolver::Assignment ? "emd (assignment)" : "emd (network simplex)";
    d.iterations = r.iterations;
    d.converged = r.optimal;
    d.transport_cost = r.transport_cost;
    // Exact solvers meet the marginals up to rounding; report the measured error anyway.
    std::vector<double> colsum(static_cast<size_t>(m), 0.0);
    for (int64_t i = 0; i < n; ++i)  // row by row: the plan is read in memory order
      for (int64_t j = 0; j < m; ++j) colsum[size_t(j)] += plan[size_t(i * m + j)];
    double err = 0.0;
    for (int64_t j = 0; j < m; ++j) err += (colsum[size_t(j)] - nu[size_t(j)]) * (colsum[size_t(j)] - nu[size_t(j)]);
    d.marginal_error = std::sqrt(err);
  }
  finish_map(plan.get(), n, m, map, d);
  return d;
}

std::vector<MapDiagnostics> transport_maps(Backend& be, const std::vector<ot::NeuronView>& as,
                                           const std::vector<ot::NeuronView>& bs, const MapOptions& options,
                                           const std::vector<float*>& maps, TaskContext* ctx) {
  TF_CHECK(as.size() == bs.size() && as.size() == maps.size(), "transport_maps: one b side and one map per a side");
  const size_t count = as.size();
  std::vector<MapDiagnostics> diags(count);
  // Which problems are solved together: all of one shape, up to kBatchBytes of cost each.
  std::vector<std::vector<size_t>> groups;
  const auto& eps = options.sinkhorn.epsilon_scaling;  // a per-problem schedule has no batched form
  const bool together = be.device() != Device::Cpu && options.solver == Solver::Sinkhorn && options.pca_k == 0 &&
                        !(eps.enabled && !(eps.reg_start > 0));
  for (size_t i = 0; i < count; ++i) {
    TF_CHECK(as[i].count > 0 && bs[i].count > 0 && as[i].dim == bs[i].dim,
             "transport_maps: problem " + std::to_string(i) + " has an empty side or unequal feature counts");
    const size_t nm_bytes = size_t(as[i].count * bs[i].count) * sizeof(double);
    bool placed = false;
    if (together) {
      for (auto& g : groups) {
        const size_t j = g[0];
        if (as[j].count == as[i].count && bs[j].count == bs[i].count && (g.size() + 1) * nm_bytes <= kBatchBytes) {
          g.push_back(i);
          placed = true;
          break;
        }
      }
    }
    if (!placed) groups.push_back({i});
  }
  double done = 0.0;
  const double total = double(count);
  for (const auto& g : groups) {
    TaskContext part = ctx ? ctx->part(done, done + double(g.size()), total) : TaskContext();
    if (g.size() == 1) {
      diags[g[0]] = transport_map(be, as[g[0]], bs[g[0]], options, maps[g[0]], &part);
    } else {
#ifdef TF_WITH_CUDA
      cuda_batched_maps(be, g, as, bs, options, maps, diags, &part);
#else
      throw Error("CUDA is not available: " + cuda_unavailable_reason());
#endif
    }
    done += double(g.size());
    if (ctx) ctx->progress(done, total);
  }
  return diags;
}

}  // namespace tf::fusion
