// Backend selection, shared argument checks, and the stand-ins for the CUDA entry points
// in a build without nvcc (the CUDA build defines them in cuda/cuda_backend.cu).
#include "backend.h"

#include <climits>

#include "error.h"

namespace tf {

const char* device_name(Device d) { return d == Device::Cuda ? "cuda" : "cpu"; }

Backend& backend_for(const std::string& name) {
  if (name == "cpu") return cpu_backend();
  if (name == "cuda") return cuda_backend();
  if (name == "auto" || name.empty()) return cuda_available() ? cuda_backend() : cpu_backend();
  throw Error("unknown device '" + name + "' (expected auto, cpu or cuda)");
}

void check_gemm_args(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb,
                     int64_t ldc) {
  TF_CHECK(m >= 0 && n >= 0 && k >= 0, "gemm: negative dimension");
  TF_CHECK(m <= INT_MAX && n <= INT_MAX && k <= INT_MAX, "gemm: dimension too large");
  auto need = [](int64_t cols) { return cols > 1 ? cols : int64_t(1); };
  TF_CHECK(lda >= need(trans_a ? m : k), "gemm: lda smaller than the row length of A");
  TF_CHECK(ldb >= need(trans_b ? k : n), "gemm: ldb smaller than the row length of B");
  TF_CHECK(ldc >= need(n), "gemm: ldc smaller than the row length of C");
}

#ifndef TF_WITH_CUDA
bool cuda_compiled() { return false; }
bool cuda_available() { return false; }
std::string cuda_unavailable_reason() { return "the addon was built without CUDA (npm run build:cuda builds it with)"; }
Backend& cuda_backend() { throw Error("CUDA is not available: " + cuda_unavailable_reason()); }
GpuInfo cuda_device_info() { return {}; }
std::string cublas_library() { return ""; }
#endif

}  // namespace tf
