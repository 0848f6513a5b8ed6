// cuBLAS opened at run time with dlopen. The build needs no cuBLAS headers or library,
// and an addon built here uses cuBLAS on a machine that has it, our tiled kernels where
// it does not. Only the handful of entry points the backend calls are declared.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "gemm_precision.h"

namespace tf::cuda {

class Cublas {
 public:
  // Loads the library once per process; returns nullptr when it is not installed.
  // TF_CUBLAS_PATH names a specific libcublas.so to try first; TF_CUBLAS=0 disables it.
  static Cublas* instance();
  // The library instance() would try to load, found with dlopen alone (no GPU needed):
  // its name, or "" when none opens (or TF_CUBLAS=0).
  static std::string find_library();

  // Row-major C = alpha op(A) op(B) + beta C on `stream`, float32 in and out, in the
  // given precision (gemm_precision.h). Returns false if cuBLAS failed, or the precision
  // needs an entry point this cuBLAS lacks (cublasSetMathMode, cublasGemmEx).
  bool sgemm(bool trans_a, bool trans_b, int m, int n, int k, float alpha, const float* a, int lda, const float* b,
             int ldb, float beta, float* c, int ldc, cudaStream_t stream,
             GemmPrecision precision = GemmPrecision::Fp32);

  const std::string& library() const { return library_; }

 private:
  Cublas() = default;
  bool load();

  using Handle = void*;
  using CreateFn = int (*)(Handle*);
  using SetStreamFn = int (*)(Handle, cudaStream_t);
  using SgemmFn = int (*)(Handle, int, int, int, int, int, const float*, const float*, int, const float*, int,
                          const float*, float*, int);
  using SetMathModeFn = int (*)(Handle, int);
  // cublasGemmEx: types and compute type as ints (cudaDataType, cublasComputeType_t).
  using GemmExFn = int (*)(Handle, int, int, int, int, int, const void*, const void*, int, int, const void*, int, int,
                           const void*, void*, int, int, int, int);

  void* lib_ = nullptr;
  Handle handle_ = nullptr;
  CreateFn create_ = nullptr;
  SetStreamFn set_stream_ = nullptr;
  SgemmFn sgemm_ = nullptr;
  SetMathModeFn set_math_mode_ = nullptr;  // optional (cuBLAS 11+)
  GemmExFn gemm_ex_ = nullptr;              // optional (cuBLAS 11+ for its compute types)
  int math_mode_ = 0;                      // the mode last set on the handle
  std::string library_;
};

}  // namespace tf::cuda
