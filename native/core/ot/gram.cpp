#include "gram.h"

#include <algorithm>
#include <tuple>
#include <vector>

#include "../cpu/kernels.h"
#include "../thread_pool.h"
#include "big_buffer.h"
#include "vec_math.h"

#ifdef TF_HAVE_CBLAS
#include <cblas.h>
#endif

namespace tf::ot {

namespace {

// Features per slice: at least this many, so that each GEMM call has enough depth to run
// near peak; more while a packed slice of the wider side stays within kSliceDoubles
// (2 MiB), so that narrow layers (64 or 128 neurons over thousands of activation rows)
// take one or a few GEMMs instead of one per 256 rows, whose fixed costs (three parallel
// regions and a BLAS call each) dominated there.
constexpr int64_t kMinSliceFeatures = 256;
constexpr int64_t kSliceDoubles = int64_t(1) << 18;

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

// Converts features [t0, t0 + kc) of every neuron to float64 in the order activations
// are stored, feature-major: out[t * count + k]. Rows are read and written in order (a
// conversion, not a transpose), which for activations (a neuron per column) is several
// times cheaper than pack_slice's transpose; the GEMM then reads the slice transposed.
void pack_slice_feature_major(const NeuronView& x, int64_t t0, int64_t kc, double* out) {
  parallel_for(kc, 16, [&](int64_t fb, int64_t fe) {
    for (int64_t f = fb; f < fe; ++f) {
      const float* src = x.data + (t0 + f) * x.feature_stride;
      double* dst = out + f * x.count;
      if (x.neuron_stride == 1) {
        for (int64_t k = 0; k < x.count; ++k) dst[k] = src[k];
      } else {
        for (int64_t k = 0; k < x.count; ++k) dst[k] = src[k * x.neuron_stride];
      }
    }
  });
}

// sq[k] += the squares of neuron k's kc features in a feature-major slice.
void add_squares_feature_major(const double* packed, int64_t count, int64_t kc, double* sq) {
  parallel_for(count, 256, [&](int64_t b, int64_t e) {
    for (int64_t f = 0; f < kc; ++f) {
      const double* row = packed + f * count;
      for (int64_t k = b; k < e; ++k) sq[k] += row[k] * row[k];
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

namespace {

// Like cpu::gemm: BLAS only outside our parallel regions, so the two never compete.
bool blas_usable() {
#ifdef TF_HAVE_CBLAS
  return cpu::gemm_path() != cpu::GemmPath::Blocked && !ThreadPool::in_parallel_region();
#else
  return false;
#endif
}

#ifdef TF_HAVE_CBLAS
// c (+)= A B^T for rows [r0, r0 + rows) of A, where each side's slice of kc features is
// packed neuron-major (count x kc) or feature-major (kc x count); only when blas_usable().
void dgemm_packed(const double* ap, bool a_features_major, int64_t na, int64_t r0, int64_t rows, const double* bp,
                  bool b_features_major, int64_t nb, int64_t kc, double* c, int64_t ldc, bool accumulate) {
  pool()->park();
  const double* a = a_features_major ? ap + r0 : ap + r0 * kc;
  cblas_dgemm(CblasRowMajor, a_features_major ? CblasTrans : CblasNoTrans, b_features_major ? CblasNoTrans : CblasTrans,
              int(rows), int(nb), int(kc), 1.0, a, int(a_features_major ? na : kc), bp, int(b_features_major ? nb : kc),
              accumulate ? 1.0 : 0.0, c + r0 * ldc, int(ldc));
}
#endif

}  // namespace

void dgemm_nt(const double* a, int64_t na, const double* b, int64_t nb, int64_t k, double* c, int64_t ldc,
              bool accumulate) {
#ifdef TF_HAVE_CBLAS
  if (blas_usable()) {
    pool()->park();  // gives OpenBLAS our thread count (first use) and our idle workers' cores
    cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, int(na), int(nb), int(k), 1.0, a, int(k), b, int(k),
                accumulate ? 1.0 : 0.0, c, int(ldc));
    return;
  }
#endif
  gemm_nt_portable(a, na, b, nb, k, c, ldc, accumulate);
}

void gram_f64(const NeuronView& a, const NeuronView& b, double* g, int64_t ldg, double* a_sq, double* b_sq,
              TaskContext* ctx) {
  const int64_t na = a.count, nb = b.count, d = a.dim;
  std::fill(a_sq, a_sq + na, 0.0);
  std::fill(b_sq, b_sq + nb, 0.0);
  if (d == 0) {
    for (int64_t i = 0; i < na; ++i) std::fill(g + i * ldg, g + i * ldg + nb, 0.0);
    return;
  }
  const int64_t kc_max = std::min(d, std::max(kMinSliceFeatures, kSliceDoubles / std::max<int64_t>(1, std::max(na, nb))));
  // Uninitialised (the packing writes every element read) and, when large, recycled pages.
  BigBuffer ap(static_cast<size_t>(na * kc_max)), bp(static_cast<size_t>(nb * kc_max));
  // With BLAS, a side stored feature by feature (activations) is packed in that order and
  // read transposed by the GEMM; the portable kernel wants both sides neuron-major.
  const bool blas = blas_usable();
  const bool a_fm = blas && a.feature_stride != 1, b_fm = blas && b.feature_stride != 1;
  const int64_t slices = (d + kc_max - 1) / kc_max;
  for (int64_t s = 0; s < slices; ++s) {
    if (ctx) ctx->check_cancelled();
    const int64_t t0 = s * kc_max, kc = std::min(kc_max, d - t0);
    for (auto [x, packed, fm, sq] : {std::tuple{&a, ap.get(), a_fm, a_sq}, std::tuple{&b, bp.get(), b_fm, b_sq}}) {
      if (fm) {
        pack_slice_feature_major(*x, t0, kc, packed);
        add_squares_feature_major(packed, x->count, kc, sq);
      } else {
        pack_slice(*x, t0, kc, packed);
        add_squares(packed, x->count, kc, sq);
      }
    }
    // In blocks of A's rows of about 2^32 multiply-adds each (tens of milliseconds), so
    // that a cancel is seen soon even when one slice of a huge problem takes seconds; a
    // problem of the fusion's sizes (3072 x 3072 and below) stays one GEMM per slice.
    const int64_t rows = std::max<int64_t>(64, (int64_t(1) << 32) / std::max<int64_t>(1, nb * kc));
    // (No GEMM without columns: BLAS refuses a leading dimension of 0.)
    for (int64_t r0 = 0; nb > 0 && r0 < na; r0 += rows) {
      if (ctx && r0 > 0) ctx->check_cancelled();
      const int64_t block = std::min(rows, na - r0);
#ifdef TF_HAVE_CBLAS
      if (blas) {
        dgemm_packed(ap.get(), a_fm, na, r0, block, bp.get(), b_fm, nb, kc, g, ldg, s > 0);
        continue;
      }
#endif
      gemm_nt_portable(ap.get() + r0 * kc, block, bp.get(), nb, kc, g + r0 * ldg, ldg, s > 0);
    }
    if (ctx) ctx->progress(double(s + 1), double(slices + 1));
  }
}

namespace {

// A side as a float32 GEMM operand: its neurons x features matrix, or the transpose of
// one, with unit stride in one direction. A side strided in both is copied first.
struct Operand {
  const float* data;
  int64_t ld;
  bool transposed;  // the stored matrix is features x neurons
  std::vector<float> copy;
};

Operand operand(const NeuronView& x) {
  const int64_t dim = std::max<int64_t>(x.dim, 1), count = std::max<int64_t>(x.count, 1);
  if (x.feature_stride == 1 && (x.neuron_stride >= dim || x.count <= 1))
    return {x.data, std::max(x.neuron_stride, dim), false, {}};
  if (x.neuron_stride == 1 && (x.feature_stride >= count || x.dim <= 1))
    return {x.data, std::max(x.feature_stride, count), true, {}};
  Operand o{nullptr, std::max<int64_t>(x.dim, 1), false, std::vector<float>(static_cast<size_t>(x.count * x.dim))};
  for (int64_t k = 0; k < x.count; ++k)
    for (int64_t t = 0; t < x.dim; ++t) o.copy[k * x.dim + t] = x.data[k * x.neuron_stride + t * x.feature_stride];
  o.data = o.copy.data();
  return o;
}

// |x_k|^2 in float64, walking memory in order: along each neuron's features when those
// are contiguous, else feature by feature across a block of neurons (activations, where
// a neuron is a column).
void squared_lengths(const NeuronView& x, double* sq) {
  const bool along_neurons = x.feature_stride != 1 && x.neuron_stride < x.feature_stride;
  parallel_for(x.count, along_neurons ? 256 : 16, [&](int64_t b, int64_t e) {
    if (along_neurons) {
      std::fill(sq + b, sq + e, 0.0);
      for (int64_t t = 0; t < x.dim; ++t) {
        const float* row = x.data + t * x.feature_stride;
        for (int64_t k = b; k < e; ++k) {
          const double v = row[k * x.neuron_stride];
          sq[k] += v * v;
        }
      }
      return;
    }
    for (int64_t k = b; k < e; ++k) {
      double s = 0;
      for (int64_t t = 0; t < x.dim; ++t) {
        const double v = x.data[k * x.neuron_stride + t * x.feature_stride];
        s += v * v;
      }
      sq[k] = s;
    }
  });
}

}  // namespace

void gram_f32(const NeuronView& a, const NeuronView& b, double* g, int64_t ldg, double* a_sq, double* b_sq,
              TaskContext* ctx) {
  const int64_t na = a.count, nb = b.count, d = a.dim;
  squared_lengths(a, a_sq);
  squared_lengths(b, b_sq);
  if (ctx) ctx->check_cancelled();
  std::vector<float> prod(static_cast<size_t>(na * nb));
  if (d > 0) {
    Operand oa = operand(a), ob = operand(b);
    // prod = A · Bᵀ with A (na x d) and B (nb x d) as stored or transposed.
    cpu::gemm(oa.transposed, !ob.transposed, na, nb, d, 1.0f, oa.data, oa.ld, ob.data, ob.ld, 0.0f, prod.data(), nb);
  }
  parallel_for(na, std::max<int64_t>(1, 16384 / std::max<int64_t>(nb, 1)), [&](int64_t b0, int64_t b1) {
    for (int64_t i = b0; i < b1; ++i)
      for (int64_t j = 0; j < nb; ++j) g[i * ldg + j] = prod[i * nb + j];
  });
  if (ctx) ctx->progress(1, 2);
}

}  // namespace tf::ot
