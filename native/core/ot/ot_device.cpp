#include "ot_device.h"

#include <memory>
#include <vector>

#include "../error.h"
#ifdef TF_WITH_CUDA
#include "../cuda/ot_cuda.h"
#endif

namespace tf::ot {

int64_t view_span(const NeuronView& v) {
  if (v.count <= 0 || v.dim <= 0) return 0;
  return (v.count - 1) * v.neuron_stride + (v.dim - 1) * v.feature_stride + 1;
}

namespace {

[[maybe_unused]] std::unique_ptr<DeviceBuffer> upload(Backend& be, const void* host, size_t bytes) {
  auto buf = std::make_unique<DeviceBuffer>(be, bytes);
  if (bytes) buf->upload(host);
  return buf;
}

}  // namespace

NeuronView on_backend(Backend& be, const NeuronView& v, std::unique_ptr<DeviceBuffer>& copy) {
  if (v.on_device || be.device() == Device::Cpu) return v;
  copy = upload(be, v.data, size_t(view_span(v)) * sizeof(float));
  NeuronView out = v;
  out.data = copy->get<float>();
  out.on_device = true;
  return out;
}

void check_host_view(const NeuronView& v, const char* what) {
  if (v.on_device) throw Error(std::string(what) + ": neurons in device memory cannot be read on the CPU");
}

namespace {

[[noreturn]] void no_cuda() { throw Error("CUDA is not available: " + cuda_unavailable_reason()); }

// A GPU solve's plan and (when asked for) potentials back into host memory; the sizes are
// the device buffers'.
[[maybe_unused]] void download_solution(const DeviceBuffer& plan, const DeviceBuffer& u, const DeviceBuffer& v,
                                        double* plan_out, double* log_u, double* log_v) {
  if (plan.bytes()) plan.download(plan_out);
  if (log_u && u.bytes()) u.download(log_u);
  if (log_v && v.bytes()) v.download(log_v);
}

}  // namespace

CostInfo cost_matrix_on(Backend& be, const NeuronView& a, const NeuronView& b, const CostOptions& options, double* out,
                        int64_t ldo, TaskContext* ctx) {
  if (be.device() == Device::Cpu) {
    check_host_view(a, "cost_matrix");
    check_host_view(b, "cost_matrix");
    return cost_matrix(a, b, options, out, ldo, ctx);
  }
#ifdef TF_WITH_CUDA
  TF_CHECK(a.count >= 0 && b.count >= 0 && ldo >= b.count, "cost_matrix: bad sizes");
  std::unique_ptr<DeviceBuffer> da, db;
  const NeuronView va = on_backend(be, a, da), vb = on_backend(be, b, db);
  const size_t rows = size_t(a.count), bytes = rows ? ((rows - 1) * size_t(ldo) + size_t(b.count)) * sizeof(double) : 0;
  DeviceBuffer dout(be, bytes);
  CostInfo info = cuda::ot::cost_matrix(va, vb, options, dout.get<double>(), ldo, ctx);
  if (bytes) dout.download(out);
  return info;
#else
  (void)options;
  (void)out;
  (void)ldo;
  (void)ctx;
  no_cuda();
#endif
}

SinkhornResult sinkhorn_on(Backend& be, const double* a, const double* b, const double* cost, int64_t n, int64_t m,
                           const SinkhornOptions& options, double* plan, double* log_u, double* log_v,
                           TaskContext* ctx) {
  if (be.device() == Device::Cpu) return sinkhorn(a, b, cost, n, m, options, plan, log_u, log_v, ctx);
#ifdef TF_WITH_CUDA
  TF_CHECK(n >= 0 && m >= 0, "sinkhorn: negative problem size");
  const size_t nm = size_t(n) * size_t(m);
  auto da = upload(be, a, size_t(n) * sizeof(double)), db = upload(be, b, size_t(m) * sizeof(double));
  auto dc = upload(be, cost, nm * sizeof(double));
  DeviceBuffer dplan(be, nm * sizeof(double)), du(be, size_t(n) * sizeof(double)), dv(be, size_t(m) * sizeof(double));
  SinkhornResult r = cuda::ot::sinkhorn(da->get<double>(), db->get<double>(), dc->get<double>(), n, m, options,
                                        dplan.get<double>(), du.get<double>(), dv.get<double>(), ctx);
  download_solution(dplan, du, dv, plan, log_u, log_v);
  return r;
#else
  (void)a, (void)b, (void)cost, (void)n, (void)m, (void)options, (void)plan, (void)log_u, (void)log_v, (void)ctx;
  no_cuda();
#endif
}

std::vector<SinkhornResult> sinkhorn_batched_on(Backend& be, const std::vector<const double*>& a,
                                                const std::vector<const double*>& b,
                                                const std::vector<const double*>& cost, int64_t n, int64_t m,
                                                const SinkhornOptions& options, double* plan, double* log_u,
                                                double* log_v, TaskContext* ctx) {
  const int64_t batch = int64_t(cost.size());
  TF_CHECK(n >= 0 && m >= 0, "sinkhorn: negative problem size");
  TF_CHECK(a.size() == cost.size() && b.size() == cost.size(), "sinkhorn: one a and one b per cost matrix");
  const size_t nm = size_t(n) * size_t(m);
  // A per-problem epsilon-scaling schedule (reg_start <= 0) has no batched GPU form.
  const bool one_by_one = be.device() == Device::Cpu || batch <= 1 ||
                          (options.epsilon_scaling.enabled && !(options.epsilon_scaling.reg_start > 0));
  std::vector<SinkhornResult> results;
  if (one_by_one) {
    for (int64_t k = 0; k < batch; ++k) {
      TaskContext part = ctx ? ctx->part(double(k), double(k + 1), double(batch)) : TaskContext();
      results.push_back(sinkhorn_on(be, a[k], b[k], cost[k], n, m, options, plan + k * nm,
                                    log_u ? log_u + k * n : nullptr, log_v ? log_v + k * m : nullptr, &part));
    }
    if (ctx) ctx->progress(double(batch), double(batch));
    return results;
  }
#ifdef TF_WITH_CUDA
  const size_t bn = size_t(batch) * size_t(n), bm = size_t(batch) * size_t(m), bnm = size_t(batch) * nm;
  // Packed on the device only: each problem's arrays go straight into their slot.
  DeviceBuffer da(be, bn * sizeof(double)), db(be, bm * sizeof(double)), dc(be, bnm * sizeof(double));
  for (int64_t k = 0; k < batch; ++k) {
    if (n) be.copy_from_host(da.get<double>() + k * n, a[k], size_t(n) * sizeof(double));
    if (m) be.copy_from_host(db.get<double>() + k * m, b[k], size_t(m) * sizeof(double));
    if (nm) be.copy_from_host(dc.get<double>() + k * nm, cost[k], nm * sizeof(double));
  }
  DeviceBuffer dplan(be, bnm * sizeof(double)), du(be, bn * sizeof(double)), dv(be, bm * sizeof(double));
  results = cuda::ot::sinkhorn_batched(da.get<double>(), db.get<double>(), dc.get<double>(), batch, n, m, options,
                                       dplan.get<double>(), du.get<double>(), dv.get<double>(), ctx);
  download_solution(dplan, du, dv, plan, log_u, log_v);
  return results;
#else
  no_cuda();
#endif
}

}  // namespace tf::ot
