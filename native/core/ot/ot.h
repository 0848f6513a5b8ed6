// Optimal transport for neuron alignment: ground-cost matrices between the neurons of two
// models, entropic OT (Sinkhorn, iterated in the log domain) and exact OT (network simplex,
// or a Jonker-Volgenant assignment solver for square problems with uniform marginals).
//
// These are the CPU implementations: every pointer is host memory and the loops run on
// the core's thread pool. Inputs are read through raw pointers and strides so that data
// already held natively (captured activations, weight tensors) is used in place; a CUDA
// twin of each entry point can sit beside these with the same option and result types.
// Matrices are row-major; transport plans are n x m with n the neurons of model A (rows)
// and m those of model B (columns). All solver arithmetic is float64.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../task.h"

namespace tf::ot {

// ---------------------------------------------------------------------------------------
// Cost matrices
// ---------------------------------------------------------------------------------------

// A set of `count` neurons, each a vector of `dim` features stored as float32: feature t
// of neuron k is data[k * neuron_stride + t * feature_stride].
//   activations (samples x tokens rows, one column per neuron): of_columns(X, rows, cols)
//   weights (one row per output neuron):                        of_rows(W, rows, cols)
struct NeuronView {
  const float* data = nullptr;
  int64_t count = 0;
  int64_t dim = 0;
  int64_t neuron_stride = 0;
  int64_t feature_stride = 0;
  // True when data is device memory (an activation store on the GPU): device paths read
  // it in place instead of uploading a copy, and CPU paths refuse it.
  bool on_device = false;

  // Neurons are the columns of a row-major rows x cols matrix with row stride ld (>= cols).
  static NeuronView of_columns(const float* x, int64_t rows, int64_t cols, int64_t ld = -1) {
    return {x, cols, rows, 1, ld < 0 ? cols : ld};
  }
  // Neurons are the rows of a row-major rows x cols matrix with row stride ld (>= cols).
  static NeuronView of_rows(const float* w, int64_t rows, int64_t cols, int64_t ld = -1) {
    return {w, rows, cols, ld < 0 ? cols : ld, 1};
  }
};

enum class Metric { Euclidean, Cosine };
enum class Normalization { None, Log, Max, Median, Mean };

struct CostOptions {
  Metric metric = Metric::Euclidean;
  // Euclidean only: the squared distance |a - b|^2 instead of |a - b|.
  bool squared = false;
  // Scale every neuron's vector to unit length first, v / (|v| + 1e-9) (weights mode).
  bool unit_norm = false;
  Normalization normalize = Normalization::None;
  // After normalising, clamp to [clip_reg * clip_min, clip_reg * clip_max]. As with
  // torch.clamp, a lower bound above the upper bound sets every entry to the upper bound.
  bool clip = false;
  double clip_reg = 0.01, clip_min = 0.0, clip_max = 1.0;
  // The inner products a.b behind both metrics: float64 accumulation (the default: exact
  // to ~1e-12 relative, near-duplicate neurons included), or float32 SGEMM, about 2.5x
  // faster for wide activation sets and as precise as the reference's torch costs
  // (~1e-7 of |a||b|, which for near-duplicates is a large share of |a - b|). The
  // squared lengths stay float64 either way. CPU only: the GPU always uses float64.
  bool gram_f32 = false;
};

struct CostInfo {
  // The divisor applied by max/median/mean normalisation (1 when none was applied; also 1
  // when the statistic was 0, in which case the matrix is left unscaled).
  double scale = 1.0;
  // Percentage of entries at or above clip_reg * clip_max before clipping (0 without clip).
  double percent_clipped = 0.0;
};

// Fills out (a.count x b.count, row stride ldo >= b.count) with the ground cost between
// every neuron of a and every neuron of b. Both views must have the same dim. Euclidean
// distances come from |a|^2 + |b|^2 - 2 a.b with the products accumulated in float64 (so
// they agree with a float64 brute force to ~1e-12 relative), clamped at 0; cosine is
// 1 - a.b / (|a| |b|) clamped at 0, and a zero vector is at cosine distance 1 from
// everything (where the reference would produce NaN).
CostInfo cost_matrix(const NeuronView& a, const NeuronView& b, const CostOptions& options, double* out,
                     int64_t ldo, TaskContext* ctx = nullptr);

// ---------------------------------------------------------------------------------------
// Sinkhorn (entropic OT)
// ---------------------------------------------------------------------------------------

enum class SinkhornMethod {
  // POT's `ot.sinkhorn` iterates (u = 1/n, v = 1/m; v = b / K^T u, then u = a / K v), kept
  // as log-potentials plus bounded scalings against an absorbed kernel: the fast path.
  Scaling,
  // POT's `ot.sinkhorn_log` iterates: a log-sum-exp over every row and column each
  // iteration. Slower; the same plans; useful as an independent check.
  LogSumExp,
};

struct EpsilonScaling {
  bool enabled = false;
  // First regularisation of the schedule; <= 0 means the largest |cost| entry.
  double reg_start = 0.0;
  // Each stage multiplies reg by this factor until it reaches the target reg.
  double factor = 0.5;
  int stage_max_iter = 100;
  double stage_tol = 1e-6;
};

struct SinkhornOptions {
  double reg = 0.0;  // required, > 0
  int max_iter = 1000;
  double tol = 1e-9;
  int check_every = 10;
  SinkhornMethod method = SinkhornMethod::Scaling;
  EpsilonScaling epsilon_scaling;
  // GPU solves only (cuda::ot::sinkhorn, ot_cuda.h): iterate against a float32 kernel
  // anchored at the potentials instead of evaluating a float64 exp per cost entry in each
  // pass. Off by default: its iterates are not the float64 ones (see ot_cuda.h).
  bool gpu_float_kernel = false;
};

struct SinkhornResult {
  int iterations = 0;           // iterations run, all stages (POT's log['niter'] is this minus one)
  double marginal_error = 0.0;  // ||column sums of the returned plan - b||_2
  bool converged = false;       // the stopping test passed before max_iter ran out
  double transport_cost = 0.0;  // <plan, C>
  int absorptions = 0;          // times the scaling path re-based its kernel (diagnostics)
};

// Solves min <P, C> + reg * sum P (log P - 1) subject to P 1 = a, P^T 1 = b. a (n), b (m)
// must be non-negative and finite; rows/columns with zero mass get zero plan entries.
// Writes the plan (n x m, packed) and, when non-null, log_u (n) and log_v (m): the logs
// of the scalings with plan = diag(exp(log_u)) exp(-C / reg) diag(exp(log_v)) (-inf for
// rows/columns without mass).
SinkhornResult sinkhorn(const double* a, const double* b, const double* cost, int64_t n, int64_t m,
                        const SinkhornOptions& options, double* plan, double* log_u = nullptr,
                        double* log_v = nullptr, TaskContext* ctx = nullptr);

// ---------------------------------------------------------------------------------------
// Exact OT (earth mover's distance)
// ---------------------------------------------------------------------------------------

enum class EmdSolver { Auto, NetworkSimplex, Assignment };

struct EmdOptions {
  EmdSolver solver = EmdSolver::Auto;  // Auto: Assignment when n == m and a, b are uniform
  // Network simplex pivot limit (POT's numItermax). POT's default, 100000, is too small
  // for large problems (it returns a non-optimal plan for 3072 x 3072).
  int64_t max_iter = 10000000;
  bool center_dual = true;             // shift (u, v) by a constant so that a.u == b.v, as POT
};

struct EmdResult {
  double transport_cost = 0.0;  // <plan, C>
  EmdSolver solver = EmdSolver::NetworkSimplex;
  int64_t iterations = 0;       // pivots (network simplex) or augmenting paths (assignment)
  bool optimal = false;         // false only when max_iter pivots ran out
  bool mass_rescaled = false;   // b was scaled by sum(a) / sum(b), as POT does
};

// Solves min <P, C> subject to P 1 = a, P^T 1 = b, P >= 0. a and b must be non-negative
// with sums equal to within 1.5e-7 (relative above 1; b is then rescaled to a's sum). Writes the plan (n x m,
// packed) and dual potentials u (n), v (m) with u_i + v_j <= C_ij for all i, j and
// equality where the plan is positive.
EmdResult emd(const double* a, const double* b, const double* cost, int64_t n, int64_t m, const EmdOptions& options,
              double* plan, double* u, double* v, TaskContext* ctx = nullptr);

}  // namespace tf::ot
