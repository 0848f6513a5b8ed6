// Log-domain Sinkhorn on the GPU, twin of ot/sinkhorn*.cpp, for one problem or a batch
// of same-shaped problems solved side by side.
//
// The state is the pair of potentials f (rows) and g (columns), in cost units, float64.
// One iteration of POT's scheme (v = b / Kᵀu, then u = a / K v) is, with K = exp(-C/reg):
//   g_j = reg log b_j - reg LSE_i((f_i - C_ij) / reg)      (column pass)
//   f_i = reg log a_i - reg LSE_j((g_j - C_ij) / reg)      (row pass)
// Each pass reads the cost matrix once (float32 or float64) and evaluates one float64
// exp per entry. Instead of a running maximum, each log-sum-exp is shifted by the other
// side's current potential: the terms are then entries of the current plan, which the
// previous half-step bounded by a marginal (<= 1 for probability vectors), so nothing
// overflows, and one pass suffices. A row or column whose shifted sum leaves
// [1e-280, 1e280] (far from converged, or tiny reg on a wide cost range) is recomputed
// exactly with a running maximum. The very first column pass, before any row pass has
// bounded the plan, is exact everywhere.
//
// The column pass after a row pass sums exactly the plan's column sums, so the stopping
// test (every check_every iterations, ||column sums - b||_2 < tol, as the CPU) costs no
// extra pass: the column sums come out of the next iteration's v-update. Column sums
// are accumulated over fixed chunks of rows, then the chunks in order: the result never
// depends on scheduling. The solver waits for the GPU only at the checks.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

#include "../error.h"
#include "../ot/input_checks.h"
#include "kernels.cuh"
#include "launch.cuh"
#include "ot_cuda.h"
#include "ot_reduce.cuh"

namespace tf::cuda::ot {

namespace {

constexpr double kTiny = 1e-280;  // shifted sums outside [kTiny, kHuge] are redone exactly
constexpr double kHuge = 1e280;
constexpr int kRowThreads = 256;
constexpr int kColX = 32, kColY = 8;  // column pass: 32 columns x 8 row lanes per block

struct Dims {
  int64_t n, m;
  double reg, inv_reg;
};

__device__ __forceinline__ bool usable(double s) { return s >= kTiny && s <= kHuge; }  // false for NaN

// A log-sum-exp in progress, in cost units: sum_k exp((x_k - mx) / reg) = s.
struct Lse {
  double mx, s;
};

__device__ __forceinline__ void lse_add(Lse& st, double x, double inv_reg) {
  if (x == -INFINITY) return;  // a row or column without mass
  if (x > st.mx) {
    st.s = st.s * exp((st.mx - x) * inv_reg) + 1.0;
    st.mx = x;
  } else {
    st.s += exp((x - st.mx) * inv_reg);
  }
}

// Commutative, so a butterfly leaves the same value in every lane.
__device__ __forceinline__ Lse lse_merge(Lse a, Lse b, double inv_reg) {
  if (b.mx == -INFINITY) return a;
  if (a.mx == -INFINITY) return b;
  if (a.mx >= b.mx) return {a.mx, a.s + b.s * exp((b.mx - a.mx) * inv_reg)};
  return {b.mx, b.s + a.s * exp((a.mx - b.mx) * inv_reg)};
}

__device__ Lse block_lse(Lse st, double inv_reg, double* shared_mx, double* shared_s) {
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const Lse other{__shfl_xor_sync(0xffffffffu, st.mx, o), __shfl_xor_sync(0xffffffffu, st.s, o)};
    st = lse_merge(st, other, inv_reg);
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
  __syncthreads();
  if (lane == 0) {
    shared_mx[warp] = st.mx;
    shared_s[warp] = st.s;
  }
  __syncthreads();
  Lse total{shared_mx[0], shared_s[0]};
  for (int w = 1; w < warps; ++w) total = lse_merge(total, Lse{shared_mx[w], shared_s[w]}, inv_reg);
  return total;
}

// ---- row pass: f_i = reg log a_i - reg LSE_j((g_j - C_ij) / reg) ---------------------------
// A block per (row, problem). Shifted by the row's current potential f_i: the terms
// exp((f_i + g_j - C_ij) / reg) are the entries of the plan after the column pass.
template <typename CT>
__global__ void __launch_bounds__(kRowThreads) row_pass_kernel(double* f, const double* g, const CT* C,
                                                               const double* loga, Dims d, const int* active) {
  __shared__ double shared_a[32], shared_b[32];
  const int64_t p = blockIdx.y, i = blockIdx.x;
  if (!active[p]) return;
  double* fp = f + p * d.n;
  const double* gp = g + p * d.m;
  const CT* c = C + (p * d.n + i) * d.m;
  const double la = loga[p * d.n + i];
  if (la == -INFINITY) {  // no mass: u_i = 0, as POT
    if (threadIdx.x == 0) fp[i] = -INFINITY;
    return;
  }
  const double shift = fp[i];
  double s = 0.0;
  for (int64_t j = threadIdx.x; j < d.m; j += blockDim.x) s += exp((shift + gp[j] - double(c[j])) * d.inv_reg);
  s = block_sum(s, shared_a);
  double fi;
  if (usable(s)) {
    fi = d.reg * la - d.reg * log(s) + shift;
  } else {
    Lse st{-INFINITY, 0.0};
    for (int64_t j = threadIdx.x; j < d.m; j += blockDim.x) lse_add(st, gp[j] - double(c[j]), d.inv_reg);
    st = block_lse(st, d.inv_reg, shared_a, shared_b);
    fi = d.reg * la - st.mx - d.reg * log(st.s);
  }
  if (threadIdx.x == 0) fp[i] = fi;  // every thread read `shift` before the block reductions
}

// ---- column pass, stage 1: per chunk of rows -------------------------------------------------
// EXACT: running-maximum LSE of (f_i - C_ij) (partial maxima and sums); otherwise the sum of
// exp((f_i + g_j - C_ij) / reg), the plan's column sums over the chunk.
template <typename CT, bool EXACT>
__global__ void col_partial_kernel(double* part_s, double* part_mx, const double* f, const double* g, const CT* C,
                                   Dims d, int64_t chunk_rows, int64_t chunks, const int* active) {
  __shared__ double sh_s[kColY][kColX + 1], sh_mx[kColY][kColX + 1];
  const int64_t p = blockIdx.z;
  if (!active[p]) return;
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t j = int64_t(blockIdx.x) * kColX + tx, chunk = blockIdx.y;
  const int64_t r0 = chunk * chunk_rows, r1 = min(d.n, r0 + chunk_rows);
  const double* fp = f + p * d.n;
  double s = 0.0;
  Lse st{-INFINITY, 0.0};
  if (j < d.m) {
    const double gj = EXACT ? 0.0 : g[p * d.m + j];
    const CT* cj = C + p * d.n * d.m + j;
    for (int64_t i = r0 + ty; i < r1; i += kColY) {
      const double cij = double(cj[i * d.m]);
      if (EXACT)
        lse_add(st, fp[i] - cij, d.inv_reg);
      else
        s += exp((fp[i] + gj - cij) * d.inv_reg);
    }
  }
  sh_s[ty][tx] = EXACT ? st.s : s;
  sh_mx[ty][tx] = st.mx;
  __syncthreads();
  if (ty == 0 && j < d.m) {
    const int64_t at = (p * chunks + chunk) * d.m + j;
    if (EXACT) {
      Lse t{sh_mx[0][tx], sh_s[0][tx]};
      for (int y = 1; y < kColY; ++y) t = lse_merge(t, Lse{sh_mx[y][tx], sh_s[y][tx]}, d.inv_reg);
      part_s[at] = t.s;
      part_mx[at] = t.mx;
    } else {
      double t = 0.0;
      for (int y = 0; y < kColY; ++y) t += sh_s[y][tx];
      part_s[at] = t;
    }
  }
}

// Columns no pass needs to touch: a problem no longer active keeps its g, a column
// without mass gets -inf (v_j = 0, as POT) and no error. Returns whether `at` was one.
__device__ __forceinline__ bool settled_column(double* g_next, double* err2, const double* g, double lb, int64_t at,
                                               bool on) {
  if (!on) {
    g_next[at] = g[at];
    return true;
  }
  if (lb == -INFINITY) {
    g_next[at] = -INFINITY;
    err2[at] = 0.0;
    return true;
  }
  return false;
}

// Rare: column j of problem p redone exactly, one thread down all its rows: its next
// potential and the plan's column sum at (f, g_j).
template <typename CT>
__device__ void exact_column(const double* f, const CT* C, Dims d, int64_t p, int64_t j, double lb, double gj,
                             double* g_next, double* colsum) {
  Lse st{-INFINITY, 0.0};
  const double* fp = f + p * d.n;
  const CT* cj = C + p * d.n * d.m + j;
  for (int64_t i = 0; i < d.n; ++i) lse_add(st, fp[i] - double(cj[i * d.m]), d.inv_reg);
  *g_next = d.reg * lb - st.mx - d.reg * log(st.s);
  *colsum = exp((gj + st.mx) * d.inv_reg + log(st.s));
}

// ---- column pass, stage 2: chunks in order, the v-update, the check ---------------------------
// g_next_j = reg log b_j - reg LSE_i((f_i - C_ij) / reg); err2_j = (column sum_j - b_j)² of
// the plan for (f, g). Problems no longer active keep their g.
template <typename CT, bool EXACT>
__global__ void col_merge_kernel(double* g_next, double* err2, const double* part_s, const double* part_mx,
                                 const double* f, const double* g, const CT* C, const double* logb, const double* b,
                                 Dims d, int64_t chunks, const int* active) {
  const int64_t p = blockIdx.y;
  const bool on = active[p] != 0;
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < d.m; j += int64_t(gridDim.x) * blockDim.x) {
    const int64_t at = p * d.m + j;
    const double lb = on ? logb[at] : 0.0;
    if (settled_column(g_next, err2, g, lb, at, on)) continue;
    if (EXACT) {
      Lse st{-INFINITY, 0.0};
      for (int64_t k = 0; k < chunks; ++k) {
        const int64_t q = (p * chunks + k) * d.m + j;
        st = lse_merge(st, Lse{part_mx[q], part_s[q]}, d.inv_reg);
      }
      g_next[at] = d.reg * lb - st.mx - d.reg * log(st.s);
      err2[at] = 0.0;
      continue;
    }
    double s = 0.0;
    for (int64_t k = 0; k < chunks; ++k) s += part_s[(p * chunks + k) * d.m + j];
    const double gj = g[at];
    double colsum;
    if (usable(s)) {
      g_next[at] = d.reg * lb - d.reg * log(s) + gj;
      colsum = s;
    } else {
      exact_column(f, C, d, p, j, lb, gj, &g_next[at], &colsum);
    }
    const double e = colsum - b[at];
    err2[at] = e * e;
  }
}

// err[p] = sqrt(sum_j err2[p, j]), a block per problem, fixed order.
__global__ void error_kernel(const double* err2, int64_t m, double* err) {
  __shared__ double shared[32];
  const int64_t p = blockIdx.x;
  double s = 0.0;
  for (int64_t j = threadIdx.x; j < m; j += blockDim.x) s += err2[p * m + j];
  s = block_sum(s, shared);
  if (threadIdx.x == 0) err[p] = sqrt(s);
}

// ---- float32 kernel mode (SinkhornOptions::gpu_float_kernel) --------------------------------
// The passes above evaluate exp((f_i + g_j - C_ij) / reg) for every entry. With a kernel
// Kt_ij = exp((f0_i + g0_j - C_ij) / reg) stored in float32 at anchor potentials (f0, g0),
// the same sums are
//   row:     sum_j exp((f_i + g_j - C_ij) / reg) = su_i * sum_j Kt_ij sv_j
//   column:  sum_i exp((f_i + g_j - C_ij) / reg) = sv_j * sum_i su_i Kt_ij
// with su_i = exp((f_i - f0_i) / reg) and sv_j = exp((g_j - g0_j) / reg): one float read
// per entry and no exp. The kernel is re-anchored at the current potentials (rebuilt, one
// float64 exp per entry) before any pass once a potential has moved more than kDrift * reg
// from its anchor, which keeps the scalings within [e^-kDrift, e^kDrift] and the mass
// lost to float32 underflow (entries below ~1e-38) under ~1e-9 of a row's. Sums outside
// the usable range are recomputed exactly from C, as in the float64 passes. The kernel's
// rounding (6e-8 relative per entry) perturbs the problem being iterated, so the fixed
// point is not the float64 one to the last digits; the plan is still written from the
// potentials and C in float64.
constexpr double kDrift = 25.0;

// A block per (row, problem): f_i = f0_i + reg log a_i - reg log sum_j Kt_ij sv_j, and its
// scaling su_i for the column pass.
template <typename CT>
__global__ void __launch_bounds__(kRowThreads) row_pass_f32_kernel(double* f, double* su, const double* f0,
                                                                   const double* g, const double* sv, const float* K,
                                                                   const CT* C, const double* loga, Dims d,
                                                                   const int* active, int* need) {
  __shared__ double shared_a[32], shared_b[32];
  const int64_t p = blockIdx.y, i = blockIdx.x, row = p * d.n + i;
  if (!active[p]) return;
  const double la = loga[row];
  if (la == -INFINITY) {  // no mass: u_i = 0, as POT
    if (threadIdx.x == 0) {
      f[row] = -INFINITY;
      su[row] = 0.0;
    }
    return;
  }
  const double* gp = g + p * d.m;
  const double* svp = sv + p * d.m;
  const float* k = K + row * d.m;
  double s = 0.0;
  for (int64_t j = threadIdx.x; j < d.m; j += blockDim.x) s += double(k[j]) * svp[j];
  s = block_sum(s, shared_a);
  const double f0i = f0[row];
  double fi;
  if (usable(s)) {
    fi = f0i + d.reg * la - d.reg * log(s);
  } else {
    const CT* c = C + row * d.m;
    Lse st{-INFINITY, 0.0};
    for (int64_t j = threadIdx.x; j < d.m; j += blockDim.x) lse_add(st, gp[j] - double(c[j]), d.inv_reg);
    st = block_lse(st, d.inv_reg, shared_a, shared_b);
    fi = d.reg * la - st.mx - d.reg * log(st.s);
  }
  if (threadIdx.x == 0) {
    f[row] = fi;
    const double drift = (fi - f0i) * d.inv_reg;
    su[row] = exp(drift);  // may overflow: the column pass then recomputes exactly
    if (!(fabs(drift) <= kDrift)) need[p] = 1;
  }
}

// Column pass, stage 1: sum_i su_i Kt_ij over a chunk of rows.
__global__ void col_partial_f32_kernel(double* part_s, const double* su, const float* K, Dims d, int64_t chunk_rows,
                                       int64_t chunks, const int* active) {
  __shared__ double sh_s[kColY][kColX + 1];
  const int64_t p = blockIdx.z;
  if (!active[p]) return;
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t j = int64_t(blockIdx.x) * kColX + tx, chunk = blockIdx.y;
  const int64_t r0 = chunk * chunk_rows, r1 = min(d.n, r0 + chunk_rows);
  const double* sup = su + p * d.n;
  double s = 0.0;
  if (j < d.m) {
    const float* kj = K + p * d.n * d.m + j;
    for (int64_t i = r0 + ty; i < r1; i += kColY) {
      const double u = sup[i];
      if (u != 0.0) s += u * double(kj[i * d.m]);  // rows without mass add nothing (0 * inf kept out)
    }
  }
  sh_s[ty][tx] = s;
  __syncthreads();
  if (ty == 0 && j < d.m) {
    double t = 0.0;
    for (int y = 0; y < kColY; ++y) t += sh_s[y][tx];
    part_s[(p * chunks + chunk) * d.m + j] = t;
  }
}

// Column pass, stage 2: g_next_j = g0_j + reg log b_j - reg log T_j with T_j the chunks'
// sum; the plan's column sum at (f, g) is T_j sv_j. sv is moved to g_next in place.
template <typename CT>
__global__ void col_merge_f32_kernel(double* g_next, double* err2, double* sv, const double* part_s, const double* f,
                                     const double* g, const double* g0, const CT* C, const double* logb,
                                     const double* b, Dims d, int64_t chunks, const int* active, int* need) {
  const int64_t p = blockIdx.y;
  const bool on = active[p] != 0;
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < d.m; j += int64_t(gridDim.x) * blockDim.x) {
    const int64_t at = p * d.m + j;
    const double lb = on ? logb[at] : 0.0;
    if (settled_column(g_next, err2, g, lb, at, on)) continue;
    double t = 0.0;
    for (int64_t k = 0; k < chunks; ++k) t += part_s[(p * chunks + k) * d.m + j];
    const double gj = g[at], g0j = g0[at], svj = sv[at];
    double gn, colsum;
    if (usable(t) && usable(svj)) {
      gn = g0j + d.reg * lb - d.reg * log(t);
      colsum = t * svj;
    } else {
      exact_column(f, C, d, p, j, lb, gj, &gn, &colsum);
    }
    g_next[at] = gn;
    const double e = colsum - b[at];
    err2[at] = e * e;
    const double drift = (gn - g0j) * d.inv_reg;
    sv[at] = exp(drift);
    if (!(fabs(drift) <= kDrift)) need[p] = 1;
  }
}

// Re-anchors the kernel of every active problem whose flag is set at the current (f, g):
// Kt = exp((f + g - C) / reg), (f0, g0) = (f, g), su = sv = 1 (0 without mass). A small
// grid strides over the entries; without a flag set it returns at once.
template <typename CT>
__global__ void rebuild_f32_kernel(float* K, double* f0, double* g0, double* su, double* sv, const double* f,
                                   const double* g, const CT* C, int64_t batch, Dims d, const int* need,
                                   int* rebuilds, const int* active) {
  const int64_t per = d.n * d.m, stride = int64_t(gridDim.x) * blockDim.x;
  const int64_t first = blockIdx.x * int64_t(blockDim.x) + threadIdx.x;
  for (int64_t p = 0; p < batch; ++p) {
    if (!active[p] || !need[p]) continue;
    const double* fp = f + p * d.n;
    const double* gp = g + p * d.m;
    for (int64_t idx = first; idx < per; idx += stride) {
      const int64_t i = idx / d.m, j = idx - i * d.m;
      K[p * per + idx] = float(exp((fp[i] + gp[j] - double(C[p * per + idx])) * d.inv_reg));
    }
    for (int64_t i = first; i < d.n; i += stride) {
      f0[p * d.n + i] = fp[i];
      su[p * d.n + i] = fp[i] == -INFINITY ? 0.0 : 1.0;
    }
    for (int64_t j = first; j < d.m; j += stride) {
      g0[p * d.m + j] = gp[j];
      sv[p * d.m + j] = gp[j] == -INFINITY ? 0.0 : 1.0;
    }
    if (first == 0) ++rebuilds[p];
  }
}

// ---- the plan and its measures ----------------------------------------------------------------
template <typename CT>
__global__ void plan_kernel(double* plan, const double* f, const double* g, const CT* C, int64_t batch, Dims d,
                            const int* solvable) {
  TF_GRID_STRIDE(idx, batch * d.n * d.m) {
    const int64_t j = idx % d.m, i = (idx / d.m) % d.n, p = idx / (d.n * d.m);
    plan[idx] = solvable[p] ? exp((f[p * d.n + i] + g[p * d.m + j] - double(C[idx])) * d.inv_reg) : 0.0;
  }
}

// Column sums of the written plan over chunks of rows (as col_partial_kernel), for the
// reported marginal error, and each row's <plan_i, C_i> for the transport cost.
__global__ void plan_colsum_kernel(double* part, const double* plan, Dims d, int64_t chunk_rows, int64_t chunks) {
  __shared__ double sh[kColY][kColX + 1];
  const int64_t p = blockIdx.z;
  const int tx = threadIdx.x, ty = threadIdx.y;
  const int64_t j = int64_t(blockIdx.x) * kColX + tx, chunk = blockIdx.y;
  const int64_t r0 = chunk * chunk_rows, r1 = min(d.n, r0 + chunk_rows);
  double s = 0.0;
  if (j < d.m)
    for (int64_t i = r0 + ty; i < r1; i += kColY) s += plan[(p * d.n + i) * d.m + j];
  sh[ty][tx] = s;
  __syncthreads();
  if (ty == 0 && j < d.m) {
    double t = 0.0;
    for (int y = 0; y < kColY; ++y) t += sh[y][tx];
    part[(p * chunks + chunk) * d.m + j] = t;
  }
}

__global__ void plan_colsum_merge_kernel(double* err2, const double* part, const double* b, Dims d, int64_t chunks) {
  const int64_t p = blockIdx.y;
  for (int64_t j = blockIdx.x * int64_t(blockDim.x) + threadIdx.x; j < d.m; j += int64_t(gridDim.x) * blockDim.x) {
    double s = 0.0;
    for (int64_t k = 0; k < chunks; ++k) s += part[(p * chunks + k) * d.m + j];
    const double e = s - b[p * d.m + j];
    err2[p * d.m + j] = e * e;
  }
}

template <typename CT>
__global__ void plan_row_cost_kernel(double* row_cost, const double* plan, const CT* C, Dims d) {
  __shared__ double shared[32];
  const int64_t p = blockIdx.y, i = blockIdx.x;
  const int64_t off = (p * d.n + i) * d.m;
  double s = 0.0;
  for (int64_t j = threadIdx.x; j < d.m; j += blockDim.x) s += plan[off + j] * double(C[off + j]);
  s = block_sum(s, shared);
  if (threadIdx.x == 0) row_cost[p * d.n + i] = s;
}

__global__ void sum_rows_kernel(const double* x, int64_t len, double* out) {
  __shared__ double shared[32];
  const int64_t p = blockIdx.x;
  double s = 0.0;
  for (int64_t k = threadIdx.x; k < len; k += blockDim.x) s += x[p * len + k];
  s = block_sum(s, shared);
  if (threadIdx.x == 0) out[p] = s;
}

__global__ void log_kernel(double* out, const double* x, int64_t count) {
  TF_GRID_STRIDE(k, count) out[k] = log(x[k]);  // log 0 = -inf: no mass
}

__global__ void scale_kernel(double* out, const double* x, int64_t count, double factor) {
  TF_GRID_STRIDE(k, count) out[k] = x[k] * factor;
}

__global__ void fill_kernel(double* x, int64_t count, double value) { TF_GRID_STRIDE(k, count) x[k] = value; }

// ---- the driver -------------------------------------------------------------------------------

void check_histogram(const std::vector<double>& x, int64_t batch, int64_t k, const char* name) {
  for (int64_t p = 0; p < batch; ++p)
    for (int64_t i = 0; i < k; ++i) {
      const double v = x[size_t(p * k + i)];
      if (!(std::isfinite(v) && v >= 0))
        throw Error(std::string("sinkhorn: ") + name + " must be finite and non-negative (" + name +
                    (batch > 1 ? "[" + std::to_string(p) + "]" : "") + "[" + std::to_string(i) +
                    "] = " + std::to_string(v) + ")");
    }
}

template <typename CT>
class Solver {
 public:
  Solver(const double* a, const double* b, const CT* C, int64_t batch, int64_t n, int64_t m, bool float_kernel,
         cudaStream_t stream)
      : a_(a), b_(b), C_(C), batch_(batch), n_(n), m_(m), stream_(stream),
        chunk_rows_(std::max<int64_t>(64, (n + 63) / 64)),
        chunks_((n + chunk_rows_ - 1) / chunk_rows_),
        float_kernel_(float_kernel),
        mem_(bytes(), stream),
        kernel_mem_(float_kernel ? size_t(batch * n * m) * sizeof(float) : 0, stream) {
    double* p = mem_.as<double>();
    f_ = take(p, batch * n);
    g_ = take(p, batch * m);
    g_next_ = take(p, batch * m);
    loga_ = take(p, batch * n);
    logb_ = take(p, batch * m);
    err2_ = take(p, batch * m);
    err_ = take(p, batch);
    part_s_ = take(p, batch * chunks_ * m);
    part_mx_ = take(p, batch * chunks_ * m);
    row_cost_ = take(p, batch * n);
    cost_ = take(p, batch);
    f0_ = take(p, batch * n);
    g0_ = take(p, batch * m);
    su_ = take(p, batch * n);
    sv_ = take(p, batch * m);
    active_ = reinterpret_cast<int*>(p);
    solvable_dev_ = active_ + batch;
    need_ = solvable_dev_ + batch;
    rebuilds_ = need_ + batch;
    kernel_ = kernel_mem_.as<float>();
    TF_CUDA_CHECK(cudaMemsetAsync(rebuilds_, 0, size_t(batch) * sizeof(int), stream));
    launch(log_kernel, grid_for(batch * n), loga_, a_, batch * n);
    launch(log_kernel, grid_for(batch * m), logb_, b_, batch * m);
  }

  std::vector<SinkhornResult> solve(const std::vector<int>& solvable, const SinkhornOptions& o,
                                    const std::vector<double>& stage_regs, TaskContext* ctx) {
    solvable_ = solvable;
    upload(solvable_dev_, solvable_);
    std::vector<SinkhornResult> results(static_cast<size_t>(batch_));
    const auto& es = o.epsilon_scaling;
    bool warm = false;
    for (double r : stage_regs) {
      run_stage(r, es.stage_max_iter, es.stage_tol, o.check_every, warm, results, ctx);
      warm = true;
    }
    run_stage(o.reg, o.max_iter, o.tol, o.check_every, warm, results, ctx);
    for (size_t k = 0; k < results.size(); ++k) results[k].converged = converged_[k] != 0;
    return results;
  }

  // Writes the plans, measures them, fills log_u / log_v.
  void finish(const SinkhornOptions& o, double* plan, double* log_u, double* log_v,
              std::vector<SinkhornResult>& results) {
    const Dims d{n_, m_, o.reg, 1.0 / o.reg};
    // Problems without mass on a side: nothing moves, potentials -inf.
    for (int64_t p = 0; p < batch_; ++p)
      if (!solvable_[size_t(p)]) {
        launch(fill_kernel, grid_for(n_), f_ + p * n_, n_, -INFINITY);
        launch(fill_kernel, grid_for(m_), g_ + p * m_, m_, -INFINITY);
      }
    const int64_t total = batch_ * n_ * m_;
    if (total > 0) {
      plan_kernel<CT><<<grid_for(total), kThreads, 0, stream_>>>(plan, f_, g_, C_, batch_, d, solvable_dev_);
      TF_CUDA_CHECK_LAUNCH();
      dim3 grid(blocks_of(m_, kColX), unsigned(chunks_), unsigned(batch_));
      plan_colsum_kernel<<<grid, dim3(kColX, kColY), 0, stream_>>>(part_s_, plan, d, chunk_rows_, chunks_);
      TF_CUDA_CHECK_LAUNCH();
      plan_colsum_merge_kernel<<<dim3(blocks_of(m_, kThreads), unsigned(batch_)), kThreads, 0, stream_>>>(
          err2_, part_s_, b_, d, chunks_);
      TF_CUDA_CHECK_LAUNCH();
      error_kernel<<<unsigned(batch_), kThreads, 0, stream_>>>(err2_, m_, err_);
      TF_CUDA_CHECK_LAUNCH();
      plan_row_cost_kernel<CT><<<dim3(unsigned(n_), unsigned(batch_)), kRowThreads, 0, stream_>>>(row_cost_, plan, C_,
                                                                                                  d);
      TF_CUDA_CHECK_LAUNCH();
      sum_rows_kernel<<<unsigned(batch_), kThreads, 0, stream_>>>(row_cost_, n_, cost_);
      TF_CUDA_CHECK_LAUNCH();
    }
    std::vector<double> err(size_t(batch_), 0.0), cost(size_t(batch_), 0.0);
    if (total > 0) {
      download_now(err.data(), err_, err.size() * sizeof(double), stream_);
      download_now(cost.data(), cost_, cost.size() * sizeof(double), stream_);
    }
    std::vector<int> rebuilds(size_t(batch_), 0);
    if (float_kernel_) download_now(rebuilds.data(), rebuilds_, rebuilds.size() * sizeof(int), stream_);
    for (int64_t p = 0; p < batch_; ++p) {
      SinkhornResult& r = results[size_t(p)];
      r.absorptions = rebuilds[size_t(p)];
      if (solvable_[size_t(p)]) {
        r.marginal_error = err[size_t(p)];
        r.transport_cost = cost[size_t(p)];
      }
    }
    if (log_u && batch_ * n_ > 0) launch(scale_kernel, grid_for(batch_ * n_), log_u, f_, batch_ * n_, 1.0 / o.reg);
    if (log_v && batch_ * m_ > 0) launch(scale_kernel, grid_for(batch_ * m_), log_v, g_, batch_ * m_, 1.0 / o.reg);
    TF_CUDA_CHECK(cudaStreamSynchronize(stream_));
  }

 private:
  size_t bytes() const {
    const int64_t doubles = batch_ * (2 * n_ + 4 * m_ + 2 + 2 * chunks_ * m_ + n_ + 2 * n_ + 2 * m_);
    return size_t(doubles) * sizeof(double) + size_t(4 * batch_) * sizeof(int);
  }
  static double* take(double*& p, int64_t count) {
    double* out = p;
    p += count;
    return out;
  }
  template <typename... KArgs, typename... Args>
  void launch(void (*kernel)(KArgs...), unsigned blocks, Args... args) {
    kernel<<<blocks, kThreads, 0, stream_>>>(args...);
    TF_CUDA_CHECK_LAUNCH();
  }
  void upload(int* dev, const std::vector<int>& host) { upload_now(dev, host.data(), host.size() * sizeof(int), stream_); }

  // The column pass of the float32 kernel mode.
  void column_pass_f32(const Dims& d) {
    dim3 grid(blocks_of(m_, kColX), unsigned(chunks_), unsigned(batch_));
    col_partial_f32_kernel<<<grid, dim3(kColX, kColY), 0, stream_>>>(part_s_, su_, kernel_, d, chunk_rows_, chunks_,
                                                                       active_);
    TF_CUDA_CHECK_LAUNCH();
    col_merge_f32_kernel<CT><<<dim3(blocks_of(m_, kThreads), unsigned(batch_)), kThreads, 0, stream_>>>(
        g_next_, err2_, sv_, part_s_, f_, g_, g0_, C_, logb_, b_, d, chunks_, active_, need_);
    TF_CUDA_CHECK_LAUNCH();
  }

  // Float32 kernel mode: re-anchors the kernels whose potentials drifted (need_), then
  // clears the flags for the passes of this iteration to set.
  void rebuild_f32(const Dims& d) {
    const unsigned blocks = std::min<unsigned>(grid_for(n_ * m_), 1024);
    rebuild_f32_kernel<CT><<<blocks, kThreads, 0, stream_>>>(kernel_, f0_, g0_, su_, sv_, f_, g_, C_, batch_, d,
                                                             need_, rebuilds_, active_);
    TF_CUDA_CHECK_LAUNCH();
    TF_CUDA_CHECK(cudaMemsetAsync(need_, 0, size_t(batch_) * sizeof(int), stream_));
  }

  // The column pass: EXACT from scratch, or shifted by g (after a row pass).
  template <bool EXACT>
  void column_pass(const Dims& d) {
    dim3 grid(blocks_of(m_, kColX), unsigned(chunks_), unsigned(batch_));
    col_partial_kernel<CT, EXACT><<<grid, dim3(kColX, kColY), 0, stream_>>>(part_s_, part_mx_, f_, g_, C_, d,
                                                                            chunk_rows_, chunks_, active_);
    TF_CUDA_CHECK_LAUNCH();
    col_merge_kernel<CT, EXACT><<<dim3(blocks_of(m_, kThreads), unsigned(batch_)), kThreads, 0, stream_>>>(
        g_next_, err2_, part_s_, part_mx_, f_, g_, C_, logb_, b_, d, chunks_, active_);
    TF_CUDA_CHECK_LAUNCH();
  }

  void run_stage(double reg, int max_iter, double tol, int check_every, bool warm,
                 std::vector<SinkhornResult>& results, TaskContext* ctx) {
    const Dims d{n_, m_, reg, 1.0 / reg};
    converged_.assign(size_t(batch_), 0);
    std::vector<int> active = solvable_;
    if (!warm) {
      // POT's start, u = 1/n and v = 1/m, as the CPU's default path starts (what the
      // plan is after 0 iterations); the first v-update absorbs the constants anyway.
      if (n_ > 0) launch(fill_kernel, grid_for(batch_ * n_), f_, batch_ * n_, reg * std::log(1.0 / double(n_)));
      if (m_ > 0) launch(fill_kernel, grid_for(batch_ * m_), g_, batch_ * m_, reg * std::log(1.0 / double(m_)));
    }
    upload(active_, active);
    if (std::none_of(active.begin(), active.end(), [](int x) { return x != 0; }) || max_iter <= 0) return;
    column_pass<true>(d);
    std::swap(g_, g_next_);
    // Float32 kernel mode: every kernel is built at this stage's reg before its first pass.
    if (float_kernel_) upload(need_, std::vector<int>(size_t(batch_), 1));
    for (int it = 0; it < max_iter; ++it) {
      if (std::none_of(active.begin(), active.end(), [](int x) { return x != 0; })) break;
      const dim3 rows{unsigned(n_), unsigned(batch_)};
      if (float_kernel_) {
        rebuild_f32(d);
        row_pass_f32_kernel<CT><<<rows, kRowThreads, 0, stream_>>>(f_, su_, f0_, g_, sv_, kernel_, C_, loga_, d,
                                                                   active_, need_);
      } else {
        row_pass_kernel<CT><<<rows, kRowThreads, 0, stream_>>>(f_, g_, C_, loga_, d, active_);
      }
      TF_CUDA_CHECK_LAUNCH();
      for (int64_t p = 0; p < batch_; ++p)
        if (active[size_t(p)]) ++results[size_t(p)].iterations;
      const bool check = it % check_every == 0, last = it == max_iter - 1;
      if (check || !last) {
        if (float_kernel_) column_pass_f32(d);
        else column_pass<false>(d);
      }
      if (check) {
        error_kernel<<<unsigned(batch_), kThreads, 0, stream_>>>(err2_, m_, err_);
        TF_CUDA_CHECK_LAUNCH();
        std::vector<double> err(static_cast<size_t>(batch_));
        download_now(err.data(), err_, err.size() * sizeof(double), stream_);
        bool changed = false;
        for (int64_t p = 0; p < batch_; ++p) {
          if (!active[size_t(p)] || !(err[size_t(p)] < tol)) continue;
          // Converged at this iteration: keep its g (the v-update just computed is not
          // part of it), and stop updating it.
          converged_[size_t(p)] = 1;
          active[size_t(p)] = 0;
          changed = true;
          TF_CUDA_CHECK(cudaMemcpyAsync(g_next_ + p * m_, g_ + p * m_, size_t(m_) * sizeof(double),
                                        cudaMemcpyDeviceToDevice, stream_));
        }
        if (changed) upload(active_, active);
        if (ctx) {
          ctx->check_cancelled();
          ctx->progress(double(it + 1), double(max_iter));
        }
      }
      if (!last) std::swap(g_, g_next_);
    }
  }

  const double* a_;
  const double* b_;
  const CT* C_;
  int64_t batch_, n_, m_;
  cudaStream_t stream_;
  int64_t chunk_rows_, chunks_;
  bool float_kernel_;
  Scratch mem_;
  Scratch kernel_mem_;  // the float32 kernels (batch x n x m), in float32 kernel mode only
  double *f_, *g_, *g_next_, *loga_, *logb_, *err2_, *err_, *part_s_, *part_mx_, *row_cost_, *cost_;
  double *f0_, *g0_, *su_, *sv_;  // float32 kernel mode: the kernels' anchors and the scalings
  float* kernel_;
  int* active_;
  int* solvable_dev_;
  int* need_;      // float32 kernel mode: per problem, a potential left its anchor's range
  int* rebuilds_;  // float32 kernel mode: kernels built per problem (reported as absorptions)
  std::vector<int> solvable_, converged_;
};

template <typename CT>
std::vector<SinkhornResult> solve(const double* a, const double* b, const CT* cost, int64_t batch, int64_t n,
                                  int64_t m, const SinkhornOptions& o, double* plan, double* log_u, double* log_v,
                                  TaskContext* ctx) {
  check_sinkhorn_options(n, m, o);
  TF_CHECK(batch >= 1, "sinkhorn: the batch needs at least one problem");
  cudaStream_t stream = backend_stream();
  std::vector<double> ha(size_t(batch * n)), hb(size_t(batch * m));
  download_now(ha.data(), a, ha.size() * sizeof(double), stream);
  download_now(hb.data(), b, hb.size() * sizeof(double), stream);
  check_histogram(ha, batch, n, "a");
  check_histogram(hb, batch, m, "b");
  const MatrixFacts facts = matrix_facts(cost, batch * n * m, stream);
  if (facts.first_nonfinite >= 0) {
    const int64_t k = facts.first_nonfinite, p = k / (n * m), i = (k / m) % n, j = k % m;
    throw Error("sinkhorn: the cost matrix has a non-finite entry at (" + std::to_string(i) + ", " +
                std::to_string(j) + ")" + (batch > 1 ? " of problem " + std::to_string(p) : ""));
  }

  // Rows/columns without mass stay in the problem (POT's first v-update counts every
  // row); a problem with no mass on a side cannot move anything.
  std::vector<int> solvable(static_cast<size_t>(batch));
  for (int64_t p = 0; p < batch; ++p) {
    bool any_a = false, any_b = false;
    for (int64_t i = 0; i < n; ++i) any_a = any_a || ha[size_t(p * n + i)] > 0;
    for (int64_t j = 0; j < m; ++j) any_b = any_b || hb[size_t(p * m + j)] > 0;
    solvable[size_t(p)] = any_a && any_b;
  }

  std::vector<double> stage_regs;
  if (o.epsilon_scaling.enabled) {
    const auto& e = o.epsilon_scaling;
    double start = e.reg_start;
    if (!(start > 0)) {
      TF_CHECK(batch == 1, "sinkhorn: a batch with epsilon scaling needs an explicit reg_start");
      start = facts.max_abs;
    }
    for (double r = start; r > o.reg * (1 + 1e-12); r *= e.factor) stage_regs.push_back(r);
  }

  Solver<CT> solver(a, b, cost, batch, n, m, o.gpu_float_kernel, stream);
  std::vector<SinkhornResult> results = solver.solve(solvable, o, stage_regs, ctx);
  solver.finish(o, plan, log_u, log_v, results);
  for (int64_t p = 0; p < batch; ++p) {
    if (solvable[size_t(p)]) continue;
    SinkhornResult& r = results[size_t(p)];
    double e2 = 0;
    for (int64_t j = 0; j < m; ++j) e2 += hb[size_t(p * m + j)] * hb[size_t(p * m + j)];
    r = SinkhornResult{};
    r.marginal_error = std::sqrt(e2);
    r.converged = r.marginal_error < o.tol;
  }
  if (ctx) ctx->progress(1, 1);
  return results;
}

}  // namespace

SinkhornResult sinkhorn(const double* a, const double* b, const double* cost, int64_t n, int64_t m,
                        const SinkhornOptions& options, double* plan, double* log_u, double* log_v, TaskContext* ctx) {
  return solve(a, b, cost, 1, n, m, options, plan, log_u, log_v, ctx)[0];
}

SinkhornResult sinkhorn(const double* a, const double* b, const float* cost, int64_t n, int64_t m,
                        const SinkhornOptions& options, double* plan, double* log_u, double* log_v, TaskContext* ctx) {
  return solve(a, b, cost, 1, n, m, options, plan, log_u, log_v, ctx)[0];
}

std::vector<SinkhornResult> sinkhorn_batched(const double* a, const double* b, const double* cost, int64_t batch,
                                             int64_t n, int64_t m, const SinkhornOptions& options, double* plan,
                                             double* log_u, double* log_v, TaskContext* ctx) {
  return solve(a, b, cost, batch, n, m, options, plan, log_u, log_v, ctx);
}

std::vector<SinkhornResult> sinkhorn_batched(const double* a, const double* b, const float* cost, int64_t batch,
                                             int64_t n, int64_t m, const SinkhornOptions& options, double* plan,
                                             double* log_u, double* log_v, TaskContext* ctx) {
  return solve(a, b, cost, batch, n, m, options, plan, log_u, log_v, ctx);
}

}  // namespace tf::cuda::ot
