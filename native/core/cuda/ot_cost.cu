// Ground-cost matrices between neurons on the GPU, twin of ot/cost_matrix.cpp, in the
// reference's order: metric, then normalisation, then clipping.
//
// The Gram products a_i . b_j are float64 sums of float32 products (exact, as the CPU's
// float64 GEMM gets them), in 64 x 64 output tiles with 16-deep feature slices widened
// to float64 once as they are staged in shared memory (conversions are slow on the GPU;
// each staged value feeds 16 threads); each thread accumulates a 4 x 4 block in float64. Squared norms are float64 sums per neuron. Euclidean distances come
// from |a|² + |b|² - 2 a.b with the CPU's formula, so they agree with it to float64
// rounding of the sums (~1e-13 relative to |a|² + |b|²).
#include <cmath>
#include <limits>
#include <string>

#include "../error.h"
#include "../ot/input_checks.h"
#include "kernels.cuh"
#include "launch.cuh"
#include "ot_cuda.h"
#include "ot_reduce.cuh"

namespace tf::cuda::ot {

using tf::ot::Metric;
using tf::ot::Normalization;

namespace {

constexpr double kUnitNormEps = 1e-9;  // the reference's eps in v / (|v| + eps)

struct View {
  const float* data;
  int64_t count, dim, ns, fs;  // neuron_stride, feature_stride
};

View view_of(const NeuronView& v) { return {v.data, v.count, v.dim, v.neuron_stride, v.feature_stride}; }

// ---- Gram --------------------------------------------------------------------------------
constexpr int GT = 64, GK = 16, GTHREADS = 256;

// Loads features [p0, p0 + GK) of neurons [i0, i0 + GT) into tile[t][i]. FEATURE_CONTIG:
// consecutive threads walk the features (rows of a weight matrix), else the neurons
// (columns of an activation matrix), so warps read contiguous memory either way.
template <bool FEATURE_CONTIG>
__device__ __forceinline__ void load_gram_tile(double (&tile)[GK][GT + 1], const View& v, int64_t i0, int64_t p0) {
  for (int idx = threadIdx.x; idx < GT * GK; idx += GTHREADS) {
    const int i = FEATURE_CONTIG ? idx / GK : idx % GT;
    const int t = FEATURE_CONTIG ? idx % GK : idx / GT;
    const int64_t gi = i0 + i, gt = p0 + t;
    tile[t][i] = gi < v.count && gt < v.dim ? double(v.data[gi * v.ns + gt * v.fs]) : 0.0;
  }
}

template <bool A_FC, bool B_FC>
__global__ void __launch_bounds__(GTHREADS) gram_kernel(View a, View b, double* g, int64_t ldg) {
  __shared__ double as[GK][GT + 1];
  __shared__ double bs[GK][GT + 1];
  const int tx = threadIdx.x % 16, ty = threadIdx.x / 16;
  const int64_t i0 = int64_t(blockIdx.y) * GT, j0 = int64_t(blockIdx.x) * GT;
  double acc[4][4] = {};
  for (int64_t p0 = 0; p0 < a.dim; p0 += GK) {
    load_gram_tile<A_FC>(as, a, i0, p0);
    load_gram_tile<B_FC>(bs, b, j0, p0);
    __syncthreads();
#pragma unroll
    for (int t = 0; t < GK; ++t) {
      double av[4], bv[4];
#pragma unroll
      for (int r = 0; r < 4; ++r) av[r] = as[t][ty + 16 * r];
#pragma unroll
      for (int s = 0; s < 4; ++s) bv[s] = bs[t][tx + 16 * s];
#pragma unroll
      for (int r = 0; r < 4; ++r)
#pragma unroll
        for (int s = 0; s < 4; ++s) acc[r][s] += av[r] * bv[s];
    }
    __syncthreads();
  }
#pragma unroll
  for (int r = 0; r < 4; ++r) {
    const int64_t i = i0 + ty + 16 * r;
    if (i >= a.count) continue;
#pragma unroll
    for (int s = 0; s < 4; ++s) {
      const int64_t j = j0 + tx + 16 * s;
      if (j < b.count) g[i * ldg + j] = acc[r][s];
    }
  }
}

// |v_k|² per neuron: a warp per neuron when its features are contiguous, else a thread
// per neuron (consecutive neurons are then contiguous).
__global__ void norms_warp_kernel(View v, double* sq) {
  const int64_t k = blockIdx.x * int64_t(kThreads / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (k >= v.count) return;
  double s = 0.0;
  for (int64_t t = lane; t < v.dim; t += 32) {
    const double x = v.data[k * v.ns + t * v.fs];
    s += x * x;
  }
  s = warp_sum(s);
  if (lane == 0) sq[k] = s;
}

__global__ void norms_thread_kernel(View v, double* sq) {
  TF_GRID_STRIDE(k, v.count) {
    double s = 0.0;
    for (int64_t t = 0; t < v.dim; ++t) {
      const double x = v.data[k * v.ns + t * v.fs];
      s += x * x;
    }
    sq[k] = s;
  }
}

void norms(const View& v, double* sq, cudaStream_t stream) {
  if (v.count == 0) return;
  if (v.fs == 1 && v.ns != 1)
    norms_warp_kernel<<<blocks_of(v.count, kThreads / 32), kThreads, 0, stream>>>(v, sq);
  else
    norms_thread_kernel<<<grid_for(v.count), kThreads, 0, stream>>>(v, sq);
  TF_CUDA_CHECK_LAUNCH();
}

void gram(const View& a, const View& b, double* g, int64_t ldg, cudaStream_t stream) {
  dim3 grid(blocks_of(b.count, GT), blocks_of(a.count, GT));
  const bool afc = a.fs == 1 && a.ns != 1, bfc = b.fs == 1 && b.ns != 1;
  auto go = [&](auto kernel) { kernel<<<grid, GTHREADS, 0, stream>>>(a, b, g, ldg); };
  if (afc)
    bfc ? go(gram_kernel<true, true>) : go(gram_kernel<true, false>);
  else
    bfc ? go(gram_kernel<false, true>) : go(gram_kernel<false, false>);
  TF_CUDA_CHECK_LAUNCH();
}

// ---- metric ---------------------------------------------------------------------------
struct MetricArgs {
  const double* a_sq;
  const double* b_sq;
  int64_t n, m, ldo;
  bool euclidean, squared, unit_norm, log1p;
};

// The CPU's formulas entry by entry; with `log1p` the log normalisation follows at once.
__global__ void metric_kernel(double* out, MetricArgs p) {
  TF_GRID_STRIDE(idx, p.n * p.m) {
    const int64_t i = idx / p.m, j = idx % p.m;
    double* e = out + i * p.ldo + j;
    double d;
    if (p.euclidean) {
      const double sa = p.unit_norm ? 1.0 / (sqrt(p.a_sq[i]) + kUnitNormEps) : 1.0;
      const double sb = p.unit_norm ? 1.0 / (sqrt(p.b_sq[j]) + kUnitNormEps) : 1.0;
      const double asq = p.a_sq[i] * sa * sa;
      double d2 = asq + p.b_sq[j] * sb * sb - 2.0 * *e * sa * sb;
      d2 = d2 > 0.0 ? d2 : 0.0;
      d = p.squared ? d2 : sqrt(d2);
    } else {
      const double denom = sqrt(p.a_sq[i]) * sqrt(p.b_sq[j]);
      d = denom > 0.0 ? 1.0 - *e / denom : 1.0;
      d = d > 0.0 ? d : 0.0;
    }
    *e = p.log1p ? log1p(d) : d;
  }
}

__global__ void divide_kernel(double* out, int64_t n, int64_t m, int64_t ldo, double divisor) {
  TF_GRID_STRIDE(idx, n * m) {
    double* e = out + (idx / m) * ldo + idx % m;
    *e = *e / divisor;  // division, so that the maximum maps to exactly 1
  }
}

__global__ void clip_kernel(double* out, int64_t n, int64_t m, int64_t ldo, double lo, double hi,
                            unsigned long long* at_or_above) {
  __shared__ unsigned long long block_count;
  if (threadIdx.x == 0) block_count = 0;
  __syncthreads();
  unsigned long long count = 0;
  TF_GRID_STRIDE(idx, n * m) {
    double* e = out + (idx / m) * ldo + idx % m;
    count += *e >= hi;
    *e = fmin(fmax(*e, lo), hi);  // with lo > hi every entry becomes hi, as torch.clamp
  }
  atomicAdd(&block_count, count);
  __syncthreads();
  if (threadIdx.x == 0) atomicAdd(at_or_above, block_count);
}

}  // namespace

CostInfo cost_matrix(const NeuronView& a, const NeuronView& b, const CostOptions& options, double* out, int64_t ldo,
                     TaskContext* ctx) {
  check_cost_matrix_args(a, b, options, ldo);
  CostInfo info;
  const int64_t n = a.count, m = b.count;
  if (n == 0 || m == 0) return info;
  TF_CHECK(out != nullptr, "cost_matrix: no output buffer");
  cudaStream_t stream = backend_stream();

  Scratch sq(size_t(n + m) * sizeof(double), stream);
  double* a_sq = sq.as<double>();
  double* b_sq = a_sq + n;
  const View va = view_of(a), vb = view_of(b);
  if (a.dim == 0) {
    TF_CUDA_CHECK(cudaMemsetAsync(a_sq, 0, size_t(n + m) * sizeof(double), stream));
    TF_CUDA_CHECK(cudaMemset2DAsync(out, size_t(ldo) * sizeof(double), 0, size_t(m) * sizeof(double), size_t(n),
                                    stream));
  } else {
    norms(va, a_sq, stream);
    norms(vb, b_sq, stream);
    gram(va, vb, out, ldo, stream);
  }
  if (ctx) ctx->check_cancelled();

  MetricArgs args{a_sq, b_sq, n, m, ldo, options.metric == tf::ot::Metric::Euclidean, options.squared,
                  options.unit_norm, options.normalize == Normalization::Log};
  metric_kernel<<<grid_for(n * m), kThreads, 0, stream>>>(out, args);
  TF_CUDA_CHECK_LAUNCH();

  double divisor = 1.0;
  switch (options.normalize) {
    case Normalization::None:
    case Normalization::Log:
      break;
    case Normalization::Max:
      divisor = matrix_max(out, n, m, ldo, stream);
      break;
    case Normalization::Mean:
      divisor = matrix_sum(out, n, m, ldo, stream) / double(n * m);
      break;
    case Normalization::Median:
      divisor = matrix_select(out, n, m, ldo, (n * m - 1) / 2, stream);  // lower median, as torch.median
      break;
  }
  if (divisor != 1.0 && divisor > 0.0 && std::isfinite(divisor)) {
    info.scale = divisor;
    divide_kernel<<<grid_for(n * m), kThreads, 0, stream>>>(out, n, m, ldo, divisor);
    TF_CUDA_CHECK_LAUNCH();
  }

  if (options.clip) {
    const double lo = options.clip_reg * options.clip_min, hi = options.clip_reg * options.clip_max;
    Scratch count(sizeof(unsigned long long), stream);
    TF_CUDA_CHECK(cudaMemsetAsync(count.as<void>(), 0, sizeof(unsigned long long), stream));
    clip_kernel<<<grid_for(n * m), kThreads, 0, stream>>>(out, n, m, ldo, lo, hi, count.as<unsigned long long>());
    TF_CUDA_CHECK_LAUNCH();
    unsigned long long total = 0;
    download_now(&total, count.as<void>(), sizeof total, stream);
    info.percent_clipped = 100.0 * double(total) / double(n * m);
  }
  TF_CUDA_CHECK(cudaStreamSynchronize(stream));
  if (ctx) ctx->progress(1, 1);
  return info;
}

}  // namespace tf::cuda::ot
