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
                   const float* b, int ldb, float beta, float* c, int ldc, cudaStream_t stream, bool tf32) {
  static std::mutex mutex;  // one handle, bound to one stream at a time
  std::lock_guard<std::mutex> lock(mutex);
  if (set_stream_(handle_, stream) != 0) return false;
  const int mode = tf32 ? kCublasTf32TensorOpMath : kCublasDefaultMath;
  if (mode != math_mode_) {
    if (!set_math_mode_ || set_math_mode_(handle_, mode) != 0) return false;
    math_mode_ = mode;
  }
  // cuBLAS is column-major: the row-major C (m x n) is the column-major C^T (n x m),
  // and C^T = op(B)^T op(A)^T, so B and A swap places with their transposes unchanged.
  return sgemm_(handle_, trans_b ? kCublasOpT : kCublasOpN, trans_a ? kCublasOpT : kCublasOpN, n, m, k, &alpha, b,
                ldb, a, lda, &beta, c, ldc) == 0;
}

}  // namespace tf::cuda
