// What the CUDA backend's float32 GEMM computes its products from.
//   Fp32 (the default): float32 on CUDA cores; what the CPU parity tests expect.
//   Tf32 / Bf16: tensor cores, the inputs rounded to TF32 (10 mantissa bits: errors up
//     to ~1e-3 of sum |a||b|) or to BF16 (7 bits: ~8e-3), float32 accumulation. Fine
//     for inference and training, several times the throughput. cuBLAS runs them as
//     CUBLAS_TF32_TENSOR_OP_MATH and as cublasGemmEx with CUBLAS_COMPUTE_32F_FAST_16BF;
//     our own path as gemm_tensor_cores (sm_80 and newer; older GPUs keep float32).
#pragma once

namespace tf::cuda {

enum class GemmPrecision { Fp32, Tf32, Bf16 };

}  // namespace tf::cuda
