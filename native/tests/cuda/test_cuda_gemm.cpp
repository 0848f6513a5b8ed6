// Every CUDA GEMM path against the CPU on the same inputs: our tiled kernels (both
// tilings), cuBLAS when it loads, and the tensor-core precisions (our WMMA kernels and
// cuBLAS's TF32 mode and BF16 compute type) with bounds that fit TF32's 10-bit and
// BF16's 7-bit mantissas. Shapes cover the ViT's products, all
// transposes, edges that are not multiples of the tiles, padded strides, alpha/beta and
// beta == 0 with NaN in C. Runs with --device cuda only.
#include <cmath>
#include <limits>
#include <string>

#include "../../core/cuda/kernels.cuh"
#include "cuda_compare.h"

namespace tf::test {
namespace {

struct Case {
  bool ta, tb;
  int64_t m, n, k;
  float alpha, beta;
  int64_t pad;
};

enum class Path { Tiled, Cublas, Tf32Ours, Tf32Cublas, Bf16Ours, Bf16Cublas, Dispatch };

// The tensor-core precision a path computes in (Fp32 for the float32 paths).
cuda::GemmPrecision precision_of(Path p) {
  if (p == Path::Tf32Ours || p == Path::Tf32Cublas) return cuda::GemmPrecision::Tf32;
  if (p == Path::Bf16Ours || p == Path::Bf16Cublas) return cuda::GemmPrecision::Bf16;
  return cuda::GemmPrecision::Fp32;
}

const char* path_name(Path p) {
  switch (p) {
    case Path::Tiled: return "tiled";
    case Path::Cublas: return "cublas";
    case Path::Tf32Ours: return "tf32 wmma";
    case Path::Tf32Cublas: return "tf32 cublas";
    case Path::Bf16Ours: return "bf16 wmma";
    case Path::Bf16Cublas: return "bf16 cublas";
    default: return "dispatch";
  }
}

// Runs one case on `path`; the CPU result is the reference. Float32 paths must agree to
// float32 rounding of k products; TF32 paths to 2.5e-3 of sum |a||b| (each input loses
// up to 2^-10 relative when cut to TF32's 10 mantissa bits, 2^-11 when rounded), BF16
// paths to 1e-2 (2^-8 per input when rounded to its 7 bits, two inputs per product).
void run_case(Backend& gpu, Path path, const Case& g, uint32_t seed) {
  const int64_t a_rows = g.ta ? g.k : g.m, a_cols = g.ta ? g.m : g.k;
  const int64_t b_rows = g.tb ? g.n : g.k, b_cols = g.tb ? g.k : g.n;
  const int64_t lda = a_cols + g.pad, ldb = b_cols + g.pad, ldc = g.n + g.pad;
  auto a = random_vector(size_t(a_rows * lda), seed), b = random_vector(size_t(b_rows * ldb), seed + 1),
       c = random_vector(size_t(g.m * ldc), seed + 2);
  if (g.beta == 0.0f)
    for (auto& x : c) x = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> want = c;
  cpu_backend().gemm(g.ta, g.tb, g.m, g.n, g.k, g.alpha, a.data(), lda, b.data(), ldb, g.beta, want.data(), ldc);
  // sum_p |a_ip| |b_pj| per entry, for the TF32 bound: a GEMM of the absolute values.
  const cuda::GemmPrecision precision = precision_of(path);
  const bool reduced = precision != cuda::GemmPrecision::Fp32;
  const double per_magnitude = precision == cuda::GemmPrecision::Bf16 ? 1e-2 : 2.5e-3;
  std::vector<float> mag;
  if (reduced) {
    std::vector<float> aa(a.size()), ab(b.size());
    for (size_t i = 0; i < a.size(); ++i) aa[i] = std::fabs(a[i]);
    for (size_t i = 0; i < b.size(); ++i) ab[i] = std::fabs(b[i]);
    mag.assign(size_t(g.m * std::max<int64_t>(g.n, 1)), 0.0f);
    cpu_backend().gemm(g.ta, g.tb, g.m, g.n, g.k, 1.0f, aa.data(), lda, ab.data(), ldb, 0.0f, mag.data(),
                       std::max<int64_t>(g.n, 1));
  }

  auto da = upload_to(gpu, a), db = upload_to(gpu, b), dc = upload_to(gpu, c);
  cudaStream_t stream = cuda::backend_stream();
  const cuda::GemmPath saved_path = cuda::gemm_path();
  const cuda::GemmPrecision saved_precision = cuda::gemm_precision();
  switch (path) {
    case Path::Tiled:
      cuda::gemm_tiled(g.ta, g.tb, g.m, g.n, g.k, g.alpha, da.get<float>(), lda, db.get<float>(), ldb, g.beta,
                       dc.get<float>(), ldc, stream);
      break;
    case Path::Tf32Ours:
    case Path::Bf16Ours:
      cuda::gemm_tensor_cores(precision, g.ta, g.tb, g.m, g.n, g.k, g.alpha, da.get<float>(), lda, db.get<float>(),
                              ldb, g.beta, dc.get<float>(), ldc, stream);
      break;
    case Path::Cublas:
    case Path::Tf32Cublas:
    case Path::Bf16Cublas:
      cuda::set_gemm_path(cuda::GemmPath::Cublas);
      cuda::set_gemm_precision(precision);
      gpu.gemm(g.ta, g.tb, g.m, g.n, g.k, g.alpha, da.get<float>(), lda, db.get<float>(), ldb, g.beta, dc.get<float>(),
               ldc);
      break;
    case Path::Dispatch:
      gpu.gemm(g.ta, g.tb, g.m, g.n, g.k, g.alpha, da.get<float>(), lda, db.get<float>(), ldb, g.beta, dc.get<float>(),
               ldc);
      break;
  }
  cuda::set_gemm_path(saved_path);
  cuda::set_gemm_precision(saved_precision);
  const auto got = download_from<float>(dc);

  double worst = 0, worst_allowed = 0;
  bool ok = true, padding_ok = true;
  for (int64_t i = 0; i < g.m; ++i) {
    for (int64_t j = 0; j < g.n; ++j) {
      const double d = std::fabs(double(got[size_t(i * ldc + j)]) - double(want[size_t(i * ldc + j)]));
      const double allowed = reduced ? per_magnitude * mag[size_t(i * g.n + j)] * std::fabs(g.alpha) + 1e-5 +
                                        1e-6 * std::fabs(double(want[size_t(i * ldc + j)]))
                                  : 2e-6 * (1.0 + std::sqrt(double(g.k))) * (1.0 + std::fabs(g.alpha)) +
                                        1e-6 * std::fabs(double(want[size_t(i * ldc + j)]));
      if (!(d <= allowed)) ok = false;
      if (d > worst) {
        worst = d;
        worst_allowed = allowed;
      }
    }
    for (int64_t j = g.n; j < ldc; ++j) {
      const float before = c[size_t(i * ldc + j)], after = got[size_t(i * ldc + j)];
      padding_ok = padding_ok && ((std::isnan(before) && std::isnan(after)) || before == after);
    }
  }
  if (!ok || !padding_ok) {
    char buf[300];
    std::snprintf(buf, sizeof buf, "%s ta=%d tb=%d m=%lld n=%lld k=%lld alpha=%g beta=%g pad=%lld: max |diff| %.3g (bound %.3g)%s",
                  path_name(path), g.ta, g.tb, (long long)g.m, (long long)g.n, (long long)g.k, double(g.alpha),
                  double(g.beta), (long long)g.pad, worst, worst_allowed, padding_ok ? "" : ", wrote into C's padding");
    record_failure(__FILE__, __LINE__, buf);
  }
}

void run_suite(Backend& gpu, Path path) {
  int cases = 0;
  uint32_t seed = 1;
  const int64_t sizes[] = {1, 17, 130, 300};
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (int64_t m : sizes)
        for (int64_t n : {int64_t(1), int64_t(33), int64_t(130), int64_t(257)})
          for (int64_t k : {int64_t(1), int64_t(7), int64_t(257)}) {
            run_case(gpu, path, {ta, tb, m, n, k, 1.0f, 0.0f, 0}, seed++);
            ++cases;
          }
  const Case extra[] = {
      {false, false, 65, 70, 75, 0.5f, 2.0f, 3},      {true, true, 65, 70, 75, -1.5f, 0.25f, 5},
      {false, true, 200, 31, 513, 1.0f, 1.0f, 1},     {false, false, 4, 5, 0, 1.0f, 3.0f, 0},
      {false, false, 4, 5, 0, 1.0f, 0.0f, 0},         {false, false, 513, 1100, 300, 1.0f, 0.0f, 0},
      // The ViT's products (hidden 192 and 384, 65 tokens, batch 16): QKV, MLP, weight gradients.
      {false, true, 1040, 576, 192, 1.0f, 0.0f, 0},   {false, true, 1040, 1536, 384, 1.0f, 0.0f, 0},
      {false, true, 1040, 384, 1536, 1.0f, 0.0f, 0},  {true, false, 768, 192, 1040, 1.0f, 1.0f, 0},
      {false, false, 1040, 192, 768, 1.0f, 0.0f, 0},  {true, false, 1152, 384, 4160, 1.0f, 1.0f, 0},
  };
  for (const Case& c : extra) {
    run_case(gpu, path, c, seed++);
    ++cases;
  }
  std::printf("    %s: %d cases\n", path_name(path), cases);
}

TEST("cuda vs cpu: gemm, our tiled kernels (64x64 and 128x128 tilings)") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  run_suite(*gpu, Path::Tiled);
}

TEST("cuda vs cpu: gemm, the backend's dispatch (cuBLAS when present)") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  std::printf("    %s\n", cuda::gemm_description().c_str());
  run_suite(*gpu, Path::Dispatch);
}

TEST("cuda vs cpu: gemm, cuBLAS float32, TF32 and BF16 modes") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  const cuda::GemmPath saved = cuda::gemm_path();
  cuda::set_gemm_path(cuda::GemmPath::Auto);
  const bool have = cuda::gemm_description().find("cuBLAS") != std::string::npos;
  cuda::set_gemm_path(saved);
  if (!have) {
    std::printf("    note: cuBLAS could not be loaded (set TF_CUBLAS_PATH); nothing to test\n");
    return;
  }
  run_suite(*gpu, Path::Cublas);
  run_suite(*gpu, Path::Tf32Cublas);
  run_suite(*gpu, Path::Bf16Cublas);
}

TEST("cuda vs cpu: gemm, our TF32 and BF16 tensor-core kernels within their bounds") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  if (!cuda::tensor_cores_supported()) {
    std::printf("    note: TF32 and BF16 need compute capability 8.0 or newer; nothing to test\n");
    return;
  }
  run_suite(*gpu, Path::Tf32Ours);
  run_suite(*gpu, Path::Bf16Ours);
}

}  // namespace
}  // namespace tf::test
