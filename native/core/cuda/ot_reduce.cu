// Whole-matrix reductions for the OT code on the GPU (ot_reduce.cuh).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "launch.cuh"
#include "ot_reduce.cuh"

namespace tf::cuda::ot {

namespace {

constexpr unsigned kBlocks = 512;

unsigned reduce_blocks(int64_t count) { return std::min(kBlocks, blocks_of(count, int64_t(kThreads) * 4)); }

__global__ void max_kernel(const double* x, int64_t n, int64_t m, int64_t ld, double* partial) {
  __shared__ double shared[32];
  double v = -INFINITY;
  TF_GRID_STRIDE(idx, n * m) v = fmax(v, x[(idx / m) * ld + idx % m]);
  v = block_max(v, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = v;
}

__global__ void sum_kernel(const double* x, int64_t n, int64_t m, int64_t ld, double* partial) {
  __shared__ double shared[32];
  double v = 0.0;
  TF_GRID_STRIDE(idx, n * m) v += x[(idx / m) * ld + idx % m];
  v = block_sum(v, shared);
  if (threadIdx.x == 0) partial[blockIdx.x] = v;
}

// Order-preserving map of a double's bits to an unsigned integer.
__device__ __forceinline__ unsigned long long order_key(double v) {
  const unsigned long long bits = __double_as_longlong(v);
  return bits >> 63 ? ~bits : bits | 0x8000000000000000ull;
}
double from_key(unsigned long long key) {
  const unsigned long long bits = key >> 63 ? key & 0x7fffffffffffffffull : ~key;
  double v;
  std::memcpy(&v, &bits, sizeof v);
  return v;
}

// Histogram of the 8-bit digit at `shift` among the keys whose bits above it equal prefix.
__global__ void radix_histogram_kernel(const double* x, int64_t n, int64_t m, int64_t ld, unsigned long long prefix,
                                       unsigned long long mask, int shift, unsigned long long* bins) {
  __shared__ unsigned int local[256];
  for (int i = threadIdx.x; i < 256; i += blockDim.x) local[i] = 0;
  __syncthreads();
  TF_GRID_STRIDE(idx, n * m) {
    const unsigned long long key = order_key(x[(idx / m) * ld + idx % m]);
    if ((key & mask) == prefix) atomicAdd(&local[(key >> shift) & 0xff], 1u);
  }
  __syncthreads();
  for (int i = threadIdx.x; i < 256; i += blockDim.x)
    if (local[i]) atomicAdd(&bins[i], (unsigned long long)local[i]);
}

template <typename T>
__global__ void facts_kernel(const T* x, int64_t count, double* partial_min, double* partial_max_abs,
                             unsigned long long* first_bad) {
  __shared__ double shared[32];
  double mn = INFINITY, mx = 0.0;
  TF_GRID_STRIDE(i, count) {
    const double v = x[i];
    if (!isfinite(v)) {
      atomicMin(first_bad, (unsigned long long)i);
    } else {
      mn = fmin(mn, v);
      mx = fmax(mx, fabs(v));
    }
  }
  // min(v) = -max(-v)
  const double neg_min = block_max(-mn, shared);
  mx = block_max(mx, shared);
  if (threadIdx.x == 0) {
    partial_min[blockIdx.x] = -neg_min;
    partial_max_abs[blockIdx.x] = mx;
  }
}

template <typename T>
MatrixFacts facts(const T* x, int64_t count, cudaStream_t stream) {
  MatrixFacts f;
  if (count <= 0) {
    f.min = INFINITY;
    return f;
  }
  const unsigned blocks = reduce_blocks(count);
  Scratch s(size_t(2 * blocks) * sizeof(double) + sizeof(unsigned long long), stream);
  double* pmin = s.as<double>();
  double* pmax = pmin + blocks;
  auto* bad = reinterpret_cast<unsigned long long*>(pmax + blocks);
  TF_CUDA_CHECK(cudaMemsetAsync(bad, 0xff, sizeof(unsigned long long), stream));
  facts_kernel<T><<<blocks, kThreads, 0, stream>>>(x, count, pmin, pmax, bad);
  TF_CUDA_CHECK_LAUNCH();
  std::vector<double> host(2 * size_t(blocks));
  unsigned long long first = 0;
  download_now(host.data(), pmin, host.size() * sizeof(double), stream);
  download_now(&first, bad, sizeof first, stream);
  f.min = INFINITY;
  for (unsigned b = 0; b < blocks; ++b) {
    f.min = std::min(f.min, host[b]);
    f.max_abs = std::max(f.max_abs, host[blocks + b]);
  }
  f.first_nonfinite = first == ~0ull ? -1 : int64_t(first);
  return f;
}

}  // namespace

double matrix_max(const double* x, int64_t n, int64_t m, int64_t ld, cudaStream_t stream) {
  if (n * m <= 0) return -std::numeric_limits<double>::infinity();
  const unsigned blocks = reduce_blocks(n * m);
  Scratch partial(blocks * sizeof(double), stream);
  max_kernel<<<blocks, kThreads, 0, stream>>>(x, n, m, ld, partial.as<double>());
  TF_CUDA_CHECK_LAUNCH();
  std::vector<double> host(blocks);
  download_now(host.data(), partial.as<double>(), blocks * sizeof(double), stream);
  double v = -std::numeric_limits<double>::infinity();
  for (double p : host) v = std::max(v, p);
  return v;
}

double matrix_sum(const double* x, int64_t n, int64_t m, int64_t ld, cudaStream_t stream) {
  if (n * m <= 0) return 0.0;
  const unsigned blocks = reduce_blocks(n * m);
  Scratch partial(blocks * sizeof(double), stream);
  sum_kernel<<<blocks, kThreads, 0, stream>>>(x, n, m, ld, partial.as<double>());
  TF_CUDA_CHECK_LAUNCH();
  std::vector<double> host(blocks);
  download_now(host.data(), partial.as<double>(), blocks * sizeof(double), stream);
  double v = 0.0;
  for (double p : host) v += p;  // blocks in order
  return v;
}

double matrix_select(const double* x, int64_t n, int64_t m, int64_t ld, int64_t k, cudaStream_t stream) {
  TF_CHECK(k >= 0 && k < n * m, "matrix_select: rank out of range");
  const unsigned blocks = reduce_blocks(n * m);
  Scratch bins(256 * sizeof(unsigned long long), stream);
  unsigned long long prefix = 0, mask = 0;
  int64_t rank = k;  // rank among the keys that match the prefix so far
  for (int shift = 56; shift >= 0; shift -= 8) {
    TF_CUDA_CHECK(cudaMemsetAsync(bins.as<void>(), 0, 256 * sizeof(unsigned long long), stream));
    radix_histogram_kernel<<<blocks, kThreads, 0, stream>>>(x, n, m, ld, prefix, mask, shift,
                                                            bins.as<unsigned long long>());
    TF_CUDA_CHECK_LAUNCH();
    unsigned long long host[256];
    download_now(host, bins.as<void>(), sizeof host, stream);
    int digit = 0;
    for (; digit < 256; ++digit) {
      if (rank < int64_t(host[digit])) break;
      rank -= int64_t(host[digit]);
    }
    TF_CHECK(digit < 256, "matrix_select: inconsistent histogram (NaN in the matrix?)");
    prefix |= (unsigned long long)digit << shift;
    mask |= 0xffull << shift;
  }
  return from_key(prefix);
}

MatrixFacts matrix_facts(const double* x, int64_t count, cudaStream_t stream) { return facts(x, count, stream); }
MatrixFacts matrix_facts(const float* x, int64_t count, cudaStream_t stream) { return facts(x, count, stream); }

}  // namespace tf::cuda::ot
