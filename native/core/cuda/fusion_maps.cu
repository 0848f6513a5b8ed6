// The residual policies' map arithmetic and activity statistics on the GPU, twins of
// fusion/residual.cpp. The CPU code is plain C++ compiled without fused multiply-adds;
// the kernels spell out every rounding (__fmul_rn, __dadd_rn, ...) so that nvcc does not
// fuse either, and walk the rows in the CPU's order: bit-identical results.
#include <vector>

#include "kernels.cuh"
#include "launch.cuh"
#include "ot_cuda.h"

namespace tf::cuda::fusion {

namespace {

__global__ void combine_maps_kernel(const float* t_res, const float* t_sub, const float* w_res, const float* w_sub,
                                    int64_t n, int64_t m, float* out) {
  TF_GRID_STRIDE(idx, n * m) {
    const int64_t j = idx % m;
    out[idx] = __fadd_rn(__fmul_rn(t_res[idx], w_res[j]), __fmul_rn(t_sub[idx], w_sub[j]));
  }
}

// One thread per column, the rows in order (as the CPU's chunks walk them): for a column
// the float64 additions happen in exactly the CPU's sequence. Consecutive threads read
// consecutive columns of a row.
__global__ void column_mean_abs_kernel(const float* const* xs, int count, int64_t rows, int64_t cols, double* out) {
  TF_GRID_STRIDE(c, cols) {
    double acc = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      double v = 0.0;
      for (int k = 0; k < count; ++k) v = __dadd_rn(v, double(xs[k][r * cols + c]));
      acc = __dadd_rn(acc, fabs(v));
    }
    out[c] = rows ? acc / double(rows) : 0.0;
  }
}

}  // namespace

void combine_maps(const float* t_res, const float* t_sub, const float* w_res, const float* w_sub, int64_t n,
                  int64_t m, float* out) {
  if (n * m <= 0) return;
  cudaStream_t stream = backend_stream();
  combine_maps_kernel<<<grid_for(n * m), kThreads, 0, stream>>>(t_res, t_sub, w_res, w_sub, n, m, out);
  TF_CUDA_CHECK_LAUNCH();
  TF_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void column_mean_abs(const float* const* xs, int count, int64_t rows, int64_t cols, double* out) {
  TF_CHECK(count >= 0, "column_mean_abs: negative count");
  if (cols <= 0) return;
  cudaStream_t stream = backend_stream();
  Scratch ptrs(size_t(count > 0 ? count : 1) * sizeof(float*), stream);
  std::vector<const float*> host(xs, xs + count);
  upload_now(ptrs.as<void>(), host.data(), host.size() * sizeof(float*), stream);
  column_mean_abs_kernel<<<grid_for(cols, 128), 128, 0, stream>>>(ptrs.as<const float*>(), count, rows, cols, out);
  TF_CUDA_CHECK_LAUNCH();
  TF_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace tf::cuda::fusion
