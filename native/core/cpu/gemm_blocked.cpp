// Portable cache-blocked SGEMM, used when no BLAS is installed and inside parallel
// regions (where calling a multi-threaded BLAS would oversubscribe the cores).
//
// The classic three-level blocking: B is packed into KC x NC panels of NR-wide column
// strips, A into MC x KC blocks of MR-tall row strips, and an MR x NR micro-kernel
// accumulates in registers. GCC/Clang vector extensions keep the micro-kernel portable;
// on x86-64 it is compiled twice (AVX2+FMA and baseline) and picked at load time.
#include <algorithm>
#include <cstring>
#include <vector>

#include "../thread_pool.h"
#include "kernels.h"

namespace tf::cpu {

namespace {

constexpr int64_t MR = 6;
constexpr int64_t NR = 16;
constexpr int64_t KC = 256;
constexpr int64_t MC = 96;    // multiple of MR
constexpr int64_t NC = 2048;  // multiple of NR

typedef float vf8 __attribute__((vector_size(32), aligned(4)));

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(TF_NO_MULTIVERSION)
#define TF_MULTIVERSION __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define TF_MULTIVERSION
#endif

// acc[MR x NR] = sum over p of ap[p][0..MR) outer bp[p][0..NR).
TF_MULTIVERSION
void micro_kernel(int64_t kc, const float* __restrict ap, const float* __restrict bp, float* __restrict acc) {
  vf8 c[MR][2] = {};
  for (int64_t p = 0; p < kc; ++p) {
    vf8 b0, b1;
    std::memcpy(&b0, bp + p * NR, sizeof(vf8));
    std::memcpy(&b1, bp + p * NR + 8, sizeof(vf8));
    const float* a = ap + p * MR;
    for (int64_t i = 0; i < MR; ++i) {
      c[i][0] += a[i] * b0;
      c[i][1] += a[i] * b1;
    }
  }
  for (int64_t i = 0; i < MR; ++i) {
    std::memcpy(acc + i * NR, &c[i][0], sizeof(vf8));
    std::memcpy(acc + i * NR + 8, &c[i][1], sizeof(vf8));
  }
}

// Element (row, col) of op(X) where X is stored row-major with leading dimension ld.
inline float at(const float* x, int64_t ld, bool trans, int64_t row, int64_t col) {
  return trans ? x[col * ld + row] : x[row * ld + col];
}

// Packs op(A)[i0:i0+mc, p0:p0+kc] into MR-row strips, zero-padding the last strip.
void pack_a(const float* a, int64_t lda, bool trans, int64_t i0, int64_t mc, int64_t p0, int64_t kc, float* out) {
  for (int64_t ir = 0; ir < mc; ir += MR) {
    int64_t rows = std::min(MR, mc - ir);
    float* strip = out + ir * kc;
    for (int64_t p = 0; p < kc; ++p)
      for (int64_t i = 0; i < MR; ++i)
        strip[p * MR + i] = i < rows ? at(a, lda, trans, i0 + ir + i, p0 + p) : 0.0f;
  }
}

// Packs NR-column strips [s0, s1) of op(B)[p0:p0+kc, j0:j0+nc], zero-padding the last.
void pack_b(const float* b, int64_t ldb, bool trans, int64_t p0, int64_t kc, int64_t j0, int64_t nc, int64_t s0,
            int64_t s1, float* out) {
  for (int64_t s = s0; s < s1; ++s) {
    int64_t jr = s * NR;
    int64_t cols = std::min(NR, nc - jr);
    float* strip = out + jr * kc;
    if (!trans && cols == NR) {
      for (int64_t p = 0; p < kc; ++p) std::memcpy(strip + p * NR, b + (p0 + p) * ldb + j0 + jr, NR * sizeof(float));
      continue;
    }
    for (int64_t p = 0; p < kc; ++p)
      for (int64_t j = 0; j < NR; ++j) strip[p * NR + j] = j < cols ? at(b, ldb, trans, p0 + p, j0 + jr + j) : 0.0f;
  }
}

// C block = alpha * acc + beta * C block (C not read when beta == 0).
void store_tile(const float* acc, int64_t rows, int64_t cols, float alpha, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < rows; ++i) {
    float* crow = c + i * ldc;
    const float* arow = acc + i * NR;
    if (beta == 0.0f) {
      for (int64_t j = 0; j < cols; ++j) crow[j] = alpha * arow[j];
    } else {
      for (int64_t j = 0; j < cols; ++j) crow[j] = alpha * arow[j] + beta * crow[j];
    }
  }
}

void scale_c(int64_t m, int64_t n, float beta, float* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) c[i * ldc + j] = beta == 0.0f ? 0.0f : beta * c[i * ldc + j];
}

}  // namespace

void gemm_blocked(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                  int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  if (k <= 0 || alpha == 0.0f) {
    scale_c(m, n, beta, c, ldc);
    return;
  }
  std::vector<float> packed_b(size_t(KC) * NC);
  const int threads = num_threads();
  const int64_t ic_blocks = (m + MC - 1) / MC;

  for (int64_t j0 = 0; j0 < n; j0 += NC) {
    const int64_t nc = std::min(NC, n - j0);
    const int64_t strips = (nc + NR - 1) / NR;
    // Split the columns too when there are fewer row blocks than threads.
    const int64_t col_groups = std::min<int64_t>(strips, std::max<int64_t>(1, (2 * threads + ic_blocks - 1) / ic_blocks));
    const int64_t strips_per_group = (strips + col_groups - 1) / col_groups;

    for (int64_t p0 = 0; p0 < k; p0 += KC) {
      const int64_t kc = std::min(KC, k - p0);
      const float beta_here = p0 == 0 ? beta : 1.0f;
      parallel_for(strips, 8, [&](int64_t s0, int64_t s1) {
        pack_b(b, ldb, trans_b, p0, kc, j0, nc, s0, s1, packed_b.data());
      });
      parallel_for(ic_blocks * col_groups, 1, [&](int64_t t0, int64_t t1) {
        thread_local std::vector<float> packed_a;
        packed_a.resize(size_t(MC) * KC);
        alignas(64) float acc[MR * NR];
        for (int64_t t = t0; t < t1; ++t) {
          const int64_t i0 = (t / col_groups) * MC;
          const int64_t mc = std::min(MC, m - i0);
          const int64_t g = t % col_groups;
          const int64_t s_begin = g * strips_per_group, s_end = std::min(strips, s_begin + strips_per_group);
          if (s_begin >= s_end) continue;
          pack_a(a, lda, trans_a, i0, mc, p0, kc, packed_a.data());
          for (int64_t s = s_begin; s < s_end; ++s) {
            const int64_t jr = s * NR;
            const int64_t cols = std::min(NR, nc - jr);
            for (int64_t ir = 0; ir < mc; ir += MR) {
              micro_kernel(kc, packed_a.data() + ir * kc, packed_b.data() + jr * kc, acc);
              store_tile(acc, std::min(MR, mc - ir), cols, alpha, beta_here, c + (i0 + ir) * ldc + j0 + jr, ldc);
            }
          }
        }
      });
    }
  }
}

}  // namespace tf::cpu
