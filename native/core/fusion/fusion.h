// The native steps of OT fusion that are not plain GEMMs: turning two sets of neurons
// into a transport map (cost matrix, solver, scaling), and combining the maps that meet
// at a residual connection. The TypeScript layer walks the layers and calls these; the
// weight alignment itself (W · T_in, T_outᵀ · W) is GEMM on the backend.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../backend.h"
#include "../ot/ot.h"
#include "../task.h"

namespace tf::fusion {

enum class Solver { Emd, Sinkhorn };

struct MapOptions {
  ot::CostOptions cost;
  Solver solver = Solver::Emd;
  ot::SinkhornOptions sinkhorn;  // reg etc., used with Solver::Sinkhorn
  // > 0: compare the neurons in the anchor's top pca_k principal directions (fusion/pca.h;
  // the reference's fusion.pca with pca_k). Both sides must be host memory.
  int64_t pca_k = 0;
};

// What a map cost and how it came out, for the report.
struct MapDiagnostics {
  std::string solver;            // "emd (assignment)", "emd (network simplex)", "sinkhorn"
  // Where the cost matrix was computed (and Sinkhorn ran): "cpu" or "cuda". Exact OT
  // always solves on the CPU.
  std::string device = "cpu";
  int64_t iterations = 0;
  double marginal_error = 0.0;   // ||plan column sums - 1/m||_2 (0 for exact solvers)
  bool converged = true;
  double transport_cost = 0.0;   // <plan, C> on the normalised cost
  double cost_scale = 1.0;       // what max/median/mean normalisation divided by
  // How close the map is to a permutation (or, for rectangular maps, to a map where each
  // row of A sends all its mass to one neuron of B): the mean over rows of the largest
  // entry's share of the row's mass. 1 for a permutation; 1/m for a uniform plan.
  double permutation_score = 0.0;
};

// Computes the transport map between neurons a (n of them) and b (m): the plan of the
// OT problem with uniform marginals on the cost between them, multiplied by n so that
// every row sums to 1 (what the weights are multiplied by). Writes map (n x m, float32).
MapDiagnostics transport_map(const ot::NeuronView& a, const ot::NeuronView& b, const MapOptions& options,
                             float* map, TaskContext* ctx = nullptr);

// The same on a chosen backend; a, b and map stay host memory. On CUDA the neurons are
// copied to the GPU, the cost matrix is computed there and Sinkhorn runs on it in place
// (diagnostics.device is then "cuda"); exact OT brings the cost back and
// solves on the CPU. Throws when CUDA is asked for and unavailable.
MapDiagnostics transport_map(Backend& be, const ot::NeuronView& a, const ot::NeuronView& b, const MapOptions& options,
                             float* map, TaskContext* ctx = nullptr);

// Several maps at once (problem k: as[k] against bs[k], written to maps[k], n_k x m_k
// floats), for problems whose neurons are all at hand: in activations mode a layer's map
// depends on the captured activations only, not on the maps before it. With Sinkhorn on
// the GPU the problems of one shape are solved together (their costs computed side by
// side on the device, then one batched solve, cuda::ot::sinkhorn_batched, in groups of
// at most kBatchBytes of cost), which is where a model's many small layer problems gain;
// otherwise, and for exact OT or PCA, one after another as transport_map. Results are
// those of transport_map on the same backend, problem by problem.
constexpr size_t kBatchBytes = size_t(1) << 30;
std::vector<MapDiagnostics> transport_maps(Backend& be, const std::vector<ot::NeuronView>& as,
                                           const std::vector<ot::NeuronView>& bs, const MapOptions& options,
                                           const std::vector<float*>& maps, TaskContext* ctx = nullptr);

// T = T_res · diag(w_res) + T_sub · diag(w_sub), all n x m, w_* of length m: the residual
// policies (mean: 0.5 / 0.5; weighted_scalar: constant vectors; weighted_matrix: per neuron).
void combine_maps(const float* t_res, const float* t_sub, const float* w_res, const float* w_sub, int64_t n,
                  int64_t m, float* out);

// Mean absolute value of every column of the sum of `count` rows x cols matrices (float64
// sums): the per-neuron activity that weighs the residual policies. After an MLP the
// residual activity is that of the block input plus the attention output, a sum.
void column_mean_abs(const float* const* xs, int count, int64_t rows, int64_t cols, double* out);

// Per-column mean and standard deviation (population, float64 sums) of a rows x cols
// matrix: the per-neuron statistics that statistics repair matches.
void column_mean_std(const float* x, int64_t rows, int64_t cols, double* mean, double* std);

// column_mean_abs and column_mean_std of matrices in `be`'s memory (an activation store
// on the GPU is read there, by the CUDA twins); the results are host memory.
void column_mean_abs_on(Backend& be, const float* const* xs, int count, int64_t rows, int64_t cols, double* out);
void column_mean_std_on(Backend& be, const float* x, int64_t rows, int64_t cols, double* mean, double* std);

// Statistics repair of one linear layer's outputs: neuron j's output y_j becomes
// (y_j - mean_j) * target_std_j / std_j + target_mean_j, by scaling row j of the weight
// (rows x cols) and rewriting bias j in place. A neuron with no spread (std_j ~ 0) keeps
// its scale and is only shifted. scale and shift (rows each), when given, receive the map
// y_j -> scale_j y_j + shift_j that this applies to every output computed before it.
void repair_rows(float* weight, float* bias, int64_t rows, int64_t cols, const double* mean, const double* std,
                 const double* target_mean, const double* target_std, double* scale = nullptr,
                 double* shift = nullptr);

}  // namespace tf::fusion
