// The residual policies' and the repair's per-neuron statistics where the activations
// live: the CPU versions (residual.cpp, repair.cpp) for host memory, their CUDA twins for
// an activation store on the GPU, with only the per-neuron results copied back.
#include "../error.h"
#include "fusion.h"
#ifdef TF_WITH_CUDA
#include "../cuda/ot_cuda.h"
#endif

namespace tf::fusion {

void column_mean_abs_on(Backend& be, const float* const* xs, int count, int64_t rows, int64_t cols, double* out) {
  if (be.device() == Device::Cpu) return column_mean_abs(xs, count, rows, cols, out);
#ifdef TF_WITH_CUDA
  DeviceBuffer dout(be, size_t(cols > 0 ? cols : 1) * sizeof(double));
  cuda::fusion::column_mean_abs(xs, count, rows, cols, dout.get<double>());
  if (cols > 0) be.copy_to_host(out, dout.get(), size_t(cols) * sizeof(double));
#else
  (void)xs, (void)count, (void)rows, (void)cols, (void)out;
  throw Error("CUDA is not available: " + cuda_unavailable_reason());
#endif
}

void column_mean_std_on(Backend& be, const float* x, int64_t rows, int64_t cols, double* mean, double* std) {
  if (be.device() == Device::Cpu) return column_mean_std(x, rows, cols, mean, std);
#ifdef TF_WITH_CUDA
  DeviceBuffer dmean(be, size_t(cols > 0 ? cols : 1) * sizeof(double)), dstd(be, dmean.bytes());
  cuda::fusion::column_mean_std(x, rows, cols, dmean.get<double>(), dstd.get<double>());
  if (cols > 0) {
    be.copy_to_host(mean, dmean.get(), size_t(cols) * sizeof(double));
    be.copy_to_host(std, dstd.get(), size_t(cols) * sizeof(double));
  }
#else
  (void)x, (void)rows, (void)cols, (void)mean, (void)std;
  throw Error("CUDA is not available: " + cuda_unavailable_reason());
#endif
}

}  // namespace tf::fusion
