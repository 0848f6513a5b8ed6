// The activation store on the GPU: rows kept from each captured output, and the column
// transforms applied once the store is full. See activation_kernels.h.
#include "activation_kernels.h"
#include "launch.cuh"

namespace tf::cuda {

namespace {

// One thread per (segment, column): consecutive threads read consecutive columns of the
// same source row.
__global__ void gather_mean_rows_kernel(float* dst, const float* src, int64_t src_stride, int64_t cols,
                                        const int32_t* offsets, const int32_t* indices, int64_t segments) {
  TF_GRID_STRIDE(i, segments * cols) {
    const int64_t s = i / cols, c = i % cols;
    const int32_t k0 = offsets[s], k1 = offsets[s + 1];
    if (k1 - k0 == 1) {  // a chosen row: copied as it is (-0.0 and NaN payloads included), as on the CPU
      dst[i] = src[int64_t(indices[k0]) * src_stride + c];
      continue;
    }
    double acc = 0.0;
    for (int32_t k = k0; k < k1; ++k) acc = __dadd_rn(acc, double(src[int64_t(indices[k]) * src_stride + c]));
    dst[i] = float(__ddiv_rn(acc, double(k1 - k0 > 1 ? k1 - k0 : 1)));
  }
}

// One thread per column, rows in order (the CPU's column blocks walk them the same way).
__global__ void column_transform_kernel(float* x, int64_t rows, int64_t cols, ActivationTransform t) {
  TF_GRID_STRIDE(c, cols) {
    if (t == ActivationTransform::Norm) {
      double second = 0.0;
      for (int64_t r = 0; r < rows; ++r) {
        const double v = double(x[r * cols + c]);
        second = __dadd_rn(second, __dmul_rn(v, v));
      }
      const double norm = sqrt(second);
      const float scale = float(__ddiv_rn(1.0, norm < 1e-12 ? 1e-12 : norm));
      for (int64_t r = 0; r < rows; ++r) x[r * cols + c] = __fmul_rn(x[r * cols + c], scale);
      continue;
    }
    double mean = 0.0;
    for (int64_t r = 0; r < rows; ++r) mean = __dadd_rn(mean, double(x[r * cols + c]));
    mean = __ddiv_rn(mean, double(rows));
    float scale = 1.0f;
    if (t == ActivationTransform::Std) {
      double second = 0.0;
      for (int64_t r = 0; r < rows; ++r) {
        const double d = __dsub_rn(double(x[r * cols + c]), mean);
        second = __dadd_rn(second, __dmul_rn(d, d));
      }
      scale = float(__ddiv_rn(1.0, __dadd_rn(sqrt(__ddiv_rn(second, double(rows - 1))), 1e-9)));
    }
    for (int64_t r = 0; r < rows; ++r)
      x[r * cols + c] = float(__dmul_rn(__dsub_rn(double(x[r * cols + c]), mean), double(scale)));
  }
}

}  // namespace

void gather_mean_rows(float* dst, const float* src, int64_t src_stride, int64_t cols, const int32_t* offsets,
                      const int32_t* indices, int64_t segments, cudaStream_t stream) {
  if (segments * cols <= 0) return;
  gather_mean_rows_kernel<<<grid_for(segments * cols), kThreads, 0, stream>>>(dst, src, src_stride, cols, offsets,
                                                                              indices, segments);
  TF_CUDA_CHECK_LAUNCH();
}

void activation_transform(float* x, int64_t rows, int64_t cols, ActivationTransform t, cudaStream_t stream) {
  if (t == ActivationTransform::None || rows <= 0 || cols <= 0) return;
  column_transform_kernel<<<grid_for(cols, 128), 128, 0, stream>>>(x, rows, cols, t);
  TF_CUDA_CHECK_LAUNCH();
}

}  // namespace tf::cuda
