#include "gram.h"

#include <algorithm>
#include <vector>

#include "../cpu/kernels.h"
#include "../thread_pool.h"
#include "vec_math.h"

#ifdef TF_HAVE_CBLAS
#include <cblas.h>
#endif

namespace tf::ot {

namespace {

// Features per slice: the two packed slices stay a few MB while each GEMM call still has
// enough depth to run near peak.
constexpr int64_t kSliceFeatures = 256;

// Converts features [t0, t0 + kc) of every neuron to float64, neuron-major: out[k * kc + t].
// Tiles over neurons x features so that both the reads (whatever the strides) and the
// writes stay within a few cache lines.
void pack_slice(const NeuronView& x, int64_t t0, int64_t kc, double* out) {
  constexpr int64_t kTileNeurons = 64, kTileFeatures = 64;
  const int64_t tiles = (x.count + kTileNeurons - 1) / kTileNeurons;
  parallel_for(tiles, 1, [&](int64_t tb, int64_t te) {
    for (int64_t tile = tb; tile < te; ++tile) {
      const int64_t k0 = tile * kTileNeurons, k1 = std::min(x.count, k0 + kTileNeurons);
      for (int64_t f0 = 0; f0 < kc; f0 += kTileFeatures) {
        const int64_t f1 = std::min(kc, f0 + kTileFeatures);
        if (x.feature_stride == 1) {
          for (int64_t k = k0; k < k1; ++k) {
            const float* src = x.data + k * x.neuron_stride + (t0 + f0);
            double* dst = out + k * kc + f0;
            for (int64_t f = 0; f < f1 - f0; ++f) dst[f] = src[f];
          }
        } else {
          for (int64_t f = f0; f < f1; ++f) {
            const float* src = x.data + (t0 + f) * x.feature_stride;
            for (int64_t k = k0; k < k1; ++k) out[k * kc + f] = src[k * x.neuron_stride];
          }
        }
      }
    }
  });
}

void add_squares(const double* packed, int64_t count, int64_t kc, double* sq) {
  parallel_for(count, 256, [&](int64_t b, int64_t e) {
    for (int64_t k = b; k < e; ++k) sq[k] += vec::dot(packed + k * kc, packed + k * kc, kc);
  });
}

// g (+)= ap * bp^T for neuron-major slices: the portable path, blocked so that a tile of
// b's rows stays in cache while every row of a passes over it.
void gemm_nt_portable(const double* ap, int64_t na, const double* bp, int64_t nb, int64_t kc, double* g,
                      int64_t ldg, bool accumulate) {
  constexpr int64_t kTileB = 48;
  parallel_for(na, 16, [&](int64_t ib, int64_t ie) {
    for (int64_t j0 = 0; j0 < nb; j0 += kTileB) {
      const int64_t j1 = std::min(nb, j0 + kTileB);
      for (int64_t i = ib; i < ie; ++i) {
        const double* ar = ap + i * kc;
        double* gr = g + i * ldg;
        for (int64_t j = j0; j < j1; ++j) {
          double s = vec::dot(ar, bp + j * kc, kc);
          gr[j] = accumulate ? gr[j] + s : s;
        }
      }
    }
  });
}

}  // namespace

void gram_f64(const NeuronView& a, const NeuronView& b, double* g, int64_t ldg, double* a_sq, double* b_sq,
              TaskContext* ctx) {
  const int64_t na = a.count, nb = b.count, d = a.dim;
  std::fill(a_sq, a_sq + na, 0.0);
  std::fill(b_sq, b_sq + nb, 0.0);
  if (d == 0) {
    for (int64_t i = 0; i < na; ++i) std::fill(g + i * ldg, g + i * ldg + nb, 0.0);
    return;
  }
  const int64_t kc_max = std::min(d, kSliceFeatures);
  std::vector<double> ap(static_cast<size_t>(na * kc_max)), bp(static_cast<size_t>(nb * kc_max));
  const int64_t slices = (d + kc_max - 1) / kc_max;
  for (int64_t s = 0; s < slices; ++s) {
    if (ctx) ctx->check_cancelled();
    const int64_t t0 = s * kc_max, kc = std::min(kc_max, d - t0);
    pack_slice(a, t0, kc, ap.data());
    pack_slice(b, t0, kc, bp.data());
    add_squares(ap.data(), na, kc, a_sq);
    add_squares(bp.data(), nb, kc, b_sq);
    bool accumulate = s > 0;
#ifdef TF_HAVE_CBLAS
    // Like cpu::gemm: BLAS only outside our parallel regions, so the two never compete.
    if (cpu::gemm_path() != cpu::GemmPath::Blocked && !ThreadPool::in_parallel_region()) {
      pool()->park();  // gives OpenBLAS our thread count (first use) and our idle workers' cores
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(na), int(nb), int(kc), 1.0, ap.data(), int(kc),
                  bp.data(), int(kc), accumulate ? 1.0 : 0.0, g, int(ldg));
    } else {
      gemm_nt_portable(ap.data(), na, bp.data(), nb, kc, g, ldg, accumulate);
    }
#else
    gemm_nt_portable(ap.data(), na, bp.data(), nb, kc, g, ldg, accumulate);
#endif
    if (ctx) ctx->progress(double(s + 1), double(slices + 1));
  }
}

}  // namespace tf::ot
