// cost_matrix and sinkhorn (ot.h) on a chosen backend, with host inputs and outputs:
// the CPU versions on the CPU backend; on the CUDA backend the inputs are copied to the
// GPU (neuron views already there, NeuronView::on_device, are read in place), the CUDA twins (cuda/ot_cuda.h) run there and the results are copied back. This is
// what the binding and the fusion call, so that `device: auto|cpu|cuda` reaches OT.
//
// The copies: a NeuronView's span of floats in (the activations or weights), the n x m
// float64 result out. Sinkhorn on the GPU always iterates in the log domain (the
// CPU's LogSumExp iterates; the same iterates as its Scaling path), so
// SinkhornOptions::method only chooses between the CPU's two paths.
#pragma once

#include <memory>
#include <vector>

#include "../backend.h"
#include "ot.h"

namespace tf::ot {

CostInfo cost_matrix_on(Backend& be, const NeuronView& a, const NeuronView& b, const CostOptions& options, double* out,
                        int64_t ldo, TaskContext* ctx = nullptr);

SinkhornResult sinkhorn_on(Backend& be, const double* a, const double* b, const double* cost, int64_t n, int64_t m,
                           const SinkhornOptions& options, double* plan, double* log_u = nullptr,
                           double* log_v = nullptr, TaskContext* ctx = nullptr);

// Independent problems of one shape: a[k] (n), b[k] (m) and cost[k] (n x m) for each k,
// wherever they are in host memory. Plans come back packed one after another in `plan`
// (batch x n x m), as do log_u (batch x n) and log_v (batch x m). On the CPU the problems
// are solved one after another, each with the whole thread pool, straight from their
// arrays; on the GPU together, one launch per step for all of them
// (cuda::ot::sinkhorn_batched), which is where many small layers' problems gain.
// Progress counts problems on the CPU and iterations on the GPU.
std::vector<SinkhornResult> sinkhorn_batched_on(Backend& be, const std::vector<const double*>& a,
                                                const std::vector<const double*>& b,
                                                const std::vector<const double*>& cost, int64_t n, int64_t m,
                                                const SinkhornOptions& options, double* plan, double* log_u,
                                                double* log_v, TaskContext* ctx = nullptr);

// Floats spanned by a view: from data[0] to its last element (0 for an empty view).
int64_t view_span(const NeuronView& v);

// The view as the backend reads it: itself on the CPU or when already on_device (a GPU
// activation store's entry); else a device copy of its span, owned by `copy`.
NeuronView on_backend(Backend& be, const NeuronView& v, std::unique_ptr<DeviceBuffer>& copy);

// Throws tf::Error naming `what` when the view is device memory (on_device).
void check_host_view(const NeuronView& v, const char* what);

}  // namespace tf::ot
