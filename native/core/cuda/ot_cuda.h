// Optimal transport and the fusion's map arithmetic on the GPU: CUDA twins of
// ot/ot.h (cost_matrix, sinkhorn) and fusion/fusion.h (combine_maps, column_mean_abs,
// column_mean_std, repair_rows). Same option and result types and the same semantics as
// the CPU versions, whose comments are the specification; every array argument is
// device memory (the data pointer of a NeuronView included). Work is queued on the CUDA
// backend's stream (backend_stream()); each function waits for its results before it
// returns. Throws tf::Error when CUDA is unavailable.
//
// cost_matrix, sinkhorn and sinkhorn_batched are what costMatrix/sinkhorn/sinkhornBatch
// (ot/ot_device.cpp) and the fusion's transport maps (fusion/transport_map.cpp) run on a
// CUDA device; of the map arithmetic below, column_mean_abs and column_mean_std serve
// activation stores on the GPU (fusion/statistics_on.cpp), and combine_maps and
// repair_rows (small host-side arrays in the fusion) are reached from the native tests
// and benchmarks only. Exact OT (emd) has no GPU version: the network simplex and
// the assignment solver are sequential algorithms and stay on the CPU (ot::emd on host
// copies). The cost's precision option is a CPU matter: here the products are float64.
//
// Agreement with the CPU versions (what native/tests/cuda checks):
//   cost_matrix: float64 Gram products summed in another order, so ~1e-13 relative to
//     |a|² + |b|²; max/median/mean/log and clip as on the CPU (median exact, by radix
//     select on the float64 bits; mean summed in a fixed order).
//   sinkhorn: the log-domain iteration of POT's sinkhorn (the CPU's LogSumExp path;
//     the same iterates as its default Scaling path), float64 potentials and sums, the
//     same stopping rule (every check_every iterations, ||plan column sums - b||_2 <
//     tol). With a float64 cost the plans agree to ~1e-12 relative and the iteration
//     counts are equal unless the error crosses tol within rounding at a check.
//   sinkhorn with SinkhornOptions::gpu_float_kernel: the same iteration against a float32
//     kernel anchored at the potentials (no exp per entry and pass; ot_sinkhorn.cu), which
//     rounds the problem's kernel to float32: plans are expected within ~1e-5 relative of
//     the CPU's, iteration counts may differ, and the reported marginal error (of the plan
//     written in float64) may sit above the tolerance its stopping test met. Off by
//     default. It has been compiled but not yet run on a GPU: native/tests/cuda and
//     tf_gpu_bench check and time it where one is present.
//   combine_maps, column_mean_abs, column_mean_std, repair_rows: bit-identical (the same
//     float64 operations in the same order, with no fused multiply-adds).
#pragma once

#include <cstdint>
#include <vector>

#include "../fusion/fusion.h"
#include "../ot/ot.h"
#include "../task.h"

namespace tf::cuda::ot {

using tf::ot::CostInfo;
using tf::ot::CostOptions;
using tf::ot::NeuronView;
using tf::ot::SinkhornOptions;
using tf::ot::SinkhornResult;

// ot::cost_matrix with a.data, b.data and out on the device.
CostInfo cost_matrix(const NeuronView& a, const NeuronView& b, const CostOptions& options, double* out, int64_t ldo,
                     TaskContext* ctx = nullptr);

// ot::sinkhorn with a (n), b (m), cost (n x m), plan (n x m), log_u (n), log_v (m) on the
// device. The float cost is the fast path: half the memory traffic per iteration, the
// problem itself rounded to float32 (the solve is still float64), so plans differ from a
// float64 cost's by about 1e-7 * max|C| / reg relative.
SinkhornResult sinkhorn(const double* a, const double* b, const double* cost, int64_t n, int64_t m,
                        const SinkhornOptions& options, double* plan, double* log_u = nullptr,
                        double* log_v = nullptr, TaskContext* ctx = nullptr);
SinkhornResult sinkhorn(const double* a, const double* b, const float* cost, int64_t n, int64_t m,
                        const SinkhornOptions& options, double* plan, double* log_u = nullptr,
                        double* log_v = nullptr, TaskContext* ctx = nullptr);

// `batch` independent problems of the same shape solved together (one launch per step
// for all of them; each stops on its own test). Packed one after another: a (batch x n),
// b (batch x m), cost and plan (batch x n x m), log_u (batch x n), log_v (batch x m).
// Epsilon scaling with reg_start <= 0 (a per-problem schedule) needs batch == 1.
std::vector<SinkhornResult> sinkhorn_batched(const double* a, const double* b, const double* cost, int64_t batch,
                                             int64_t n, int64_t m, const SinkhornOptions& options, double* plan,
                                             double* log_u = nullptr, double* log_v = nullptr,
                                             TaskContext* ctx = nullptr);
std::vector<SinkhornResult> sinkhorn_batched(const double* a, const double* b, const float* cost, int64_t batch,
                                             int64_t n, int64_t m, const SinkhornOptions& options, double* plan,
                                             double* log_u = nullptr, double* log_v = nullptr,
                                             TaskContext* ctx = nullptr);

}  // namespace tf::cuda::ot

namespace tf::cuda::fusion {

// fusion::combine_maps on device arrays.
void combine_maps(const float* t_res, const float* t_sub, const float* w_res, const float* w_sub, int64_t n,
                  int64_t m, float* out);

// fusion::column_mean_abs: xs is a host array of `count` device pointers; out (cols) is
// device memory.
void column_mean_abs(const float* const* xs, int count, int64_t rows, int64_t cols, double* out);

// fusion::column_mean_std on device arrays.
void column_mean_std(const float* x, int64_t rows, int64_t cols, double* mean, double* std);

// fusion::repair_rows on device arrays.
void repair_rows(float* weight, float* bias, int64_t rows, int64_t cols, const double* mean, const double* std,
                 const double* target_mean, const double* target_std);

}  // namespace tf::cuda::fusion
