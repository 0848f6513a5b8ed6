// Statistics repair on the GPU, twins of fusion/repair.cpp: per-neuron mean and
// standard deviation of a layer's outputs, and the rescaling of its weight rows and
// bias. Like the CPU (compiled without fused multiply-adds), every float64 operation is
// rounded on its own (__dmul_rn, __dadd_rn, ...) and the rows are summed in order:
// bit-identical results.
#include "kernels.cuh"
#include "launch.cuh"
#include "ot_cuda.h"

namespace tf::cuda::fusion {

namespace {

// One thread per column: the mean, then squared deviations around it (no cancellation
// for neurons with a large offset), rows in order.
__global__ void column_mean_std_kernel(const float* x, int64_t rows, int64_t cols, double* mean, double* std) {
  TF_GRID_STRIDE(c, cols) {
    double s = 0.0;
    for (int64_t r = 0; r < rows; ++r) s = __dadd_rn(s, double(x[r * cols + c]));
    const double mu = rows ? s / double(rows) : 0.0;
    double s2 = 0.0;
    for (int64_t r = 0; r < rows; ++r) {
      const double d = __dsub_rn(double(x[r * cols + c]), mu);
      s2 = __dadd_rn(s2, __dmul_rn(d, d));
    }
    mean[c] = mu;
    std[c] = rows ? sqrt(s2 / double(rows)) : 0.0;
  }
}

// y' = a y + c with a = target_std / std and c = target_mean - a mean; a neuron without
// spread keeps its scale. A warp per row of the weight.
__global__ void repair_rows_kernel(float* weight, float* bias, int64_t rows, int64_t cols, const double* mean,
                                   const double* std, const double* target_mean, const double* target_std) {
  const int64_t j = blockIdx.x * int64_t(kThreads / 32) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (j >= rows) return;
  const double a = std[j] > __dmul_rn(1e-12, __dadd_rn(1.0, fabs(mean[j]))) ? target_std[j] / std[j] : 1.0;
  const double c = __dsub_rn(target_mean[j], __dmul_rn(a, mean[j]));
  float* w = weight + j * cols;
  for (int64_t k = lane; k < cols; k += 32) w[k] = float(__dmul_rn(a, double(w[k])));
  if (lane == 0) bias[j] = float(__dadd_rn(__dmul_rn(a, double(bias[j])), c));
}

}  // namespace

void column_mean_std(const float* x, int64_t rows, int64_t cols, double* mean, double* std) {
  if (cols <= 0) return;
  cudaStream_t stream = backend_stream();
  column_mean_std_kernel<<<grid_for(cols, 128), 128, 0, stream>>>(x, rows, cols, mean, std);
  TF_CUDA_CHECK_LAUNCH();
  TF_CUDA_CHECK(cudaStreamSynchronize(stream));
}

void repair_rows(float* weight, float* bias, int64_t rows, int64_t cols, const double* mean, const double* std,
                 const double* target_mean, const double* target_std) {
  if (rows <= 0) return;
  cudaStream_t stream = backend_stream();
  repair_rows_kernel<<<blocks_of(rows, kThreads / 32), kThreads, 0, stream>>>(weight, bias, rows, cols, mean, std,
                                                                             target_mean, target_std);
  TF_CUDA_CHECK_LAUNCH();
  TF_CUDA_CHECK(cudaStreamSynchronize(stream));
}

}  // namespace tf::cuda::fusion
