#include "cublas_loader.h"

#include <dlfcn.h>

#include <cstdlib>
#include <mutex>
#include <string>
#include <vector>

namespace tf::cuda {

namespace {
constexpr int kCublasOpN = 0;
constexpr int kCublasOpT = 1;
constexpr int kCublasDefaultMath = 0;      // CUBLAS_DEFAULT_MATH
constexpr int kCublasTf32TensorOpMath = 3;  // CUBLAS_TF32_TENSOR_OP_MATH
constexpr int kCudaR32F = 0;                 // CUDA_R_32F
constexpr int kComputeFast16Bf = 75;         // CUBLAS_COMPUTE_32F_FAST_16BF
constexpr int kGemmDefault = -1;             // CUBLAS_GEMM_DEFAULT
}  // namespace

Cublas* Cublas::instance() {
  static Cublas* loaded = [] {
    const char* off = std::getenv("TF_CUBLAS");
    if (off && std::string(off) == "0") return static_cast<Cublas*>(nullptr);
    auto* c = new Cublas();
    if (c->load()) return c;
    delete c;
    return static_cast<Cublas*>(nullptr);
  }();
  return loaded;
}

namespace {
// The runtime's own major version first: cuBLAS of another major may need another driver.
std::vector<const char*> candidates() {
  return {std::getenv("TF_CUBLAS_PATH"), "libcublas.so.13", "libcublas.so.12", "libcublas.so"};
}
}  // namespace

std::string Cublas::find_library() {
  const char* off = std::getenv("TF_CUBLAS");
  if (off && std::string(off) == "0") return "";
  for (const char* name : candidates()) {
    if (!name || !*name) continue;
    void* lib = dlopen(name, RTLD_LAZY | RTLD_LOCAL);
    if (!lib) continue;
    const bool usable = dlsym(lib, "cublasSgemm_v2") != nullptr;
    dlclose(lib);
    if (usable) return name;
  }
  return "";
}

bool Cublas::load() {
  for (const char* name : candidates()) {
    if (!name || !*name) continue;
    lib_ = dlopen(name, RTLD_NOW | RTLD_LOCAL);
    if (!lib_) continue;
    create_ = reinterpret_cast<CreateFn>(dlsym(lib_, "cublasCreate_v2"));
    set_stream_ = reinterpret_cast<SetStreamFn>(dlsym(lib_, "cublasSetStream_v2"));
    sgemm_ = reinterpret_cast<SgemmFn>(dlsym(lib_, "cublasSgemm_v2"));
    set_math_mode_ = reinterpret_cast<SetMathModeFn>(dlsym(lib_, "cublasSetMathMode"));
    gemm_ex_ = reinterpret_cast<GemmExFn>(dlsym(lib_, "cublasGemmEx"));
    if (create_ && set_stream_ && sgemm_ && create_(&handle_) == 0) {
      library_ = name;
      return true;
    }
    dlclose(lib_);
    lib_ = nullptr;
  }
  return false;
}

bool Cublas::sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda,
                   const float* b, int ldb, float beta, float* c, int ldc, cudaStream_t stream,
                   GemmPrecision precision) {
  static std::mutex mutex;  // one handle, bound to one stream at a time
  std::lock_guard<std::mutex> lock(mutex);
  if (set_stream_(handle_, stream) != 0) return false;
  // BF16 is a compute type of cublasGemmEx; TF32 a math mode of the handle.
  const int mode = precision == GemmPrecision::Tf32 ? kCublasTf32TensorOpMath : kCublasDefaultMath;
  if (mode != math_mode_) {
    if (!set_math_mode_ || set_math_mode_(handle_, mode) != 0) return false;
    math_mode_ = mode;
  }
  // cuBLAS is column-major: the row-major C (m x n) is the column-major C^T (n x m),
  // and C^T = op(B)^T op(A)^T, so B and A swap places with their transposes unchanged.
  const int op_b = trans_b ? kCublasOpT : kCublasOpN, op_a = trans_a ? kCublasOpT : kCublasOpN;
  if (precision == GemmPrecision::Bf16) {
    if (!gemm_ex_) return false;
    return gemm_ex_(handle_, op_b, op_a, n, m, k, &alpha, b, kCudaR32F, ldb, a, kCudaR32F, lda, &beta, c, kCudaR32F,
                    ldc, kComputeFast16Bf, kGemmDefault) == 0;
  }
  return sgemm_(handle_, op_b, op_a, n, m, k, &alpha, b, ldb, a, lda, &beta, c, ldc) == 0;
}

}  // namespace tf::cuda
