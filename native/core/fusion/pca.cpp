#include "pca.h"

#include <algorithm>
#include <cmath>

#include "../cpu/symmetric_eigen.h"
#include "../error.h"
#include "../ot/gram.h"

namespace tf::fusion {

namespace {

double feature(const ot::NeuronView& v, int64_t neuron, int64_t t) {
  return double(v.data[neuron * v.neuron_stride + t * v.feature_stride]);
}

// Sum over the features of every neuron of v.
std::vector<double> neuron_sums(const ot::NeuronView& v) {
  std::vector<double> s(static_cast<size_t>(v.count), 0.0);
  for (int64_t i = 0; i < v.count; ++i)
    for (int64_t t = 0; t < v.dim; ++t) s[size_t(i)] += feature(v, i, t);
  return s;
}

// Both sides' neurons centred by the anchor's means, whole.
PcaFeatures centred(const ot::NeuronView& a, const ot::NeuronView& b, const std::vector<double>& mu) {
  PcaFeatures out;
  out.dim = a.dim;
  for (const ot::NeuronView* v : {&a, &b}) {
    std::vector<float>& dst = v == &a ? out.a : out.b;
    dst.resize(size_t(v->count * v->dim));
    for (int64_t i = 0; i < v->count; ++i)
      for (int64_t t = 0; t < v->dim; ++t) dst[size_t(i * v->dim + t)] = float(feature(*v, i, t) - mu[size_t(i)]);
  }
  return out;
}

}  // namespace

PcaFeatures pca_features(const ot::NeuronView& a, const ot::NeuronView& b, int64_t k, TaskContext* ctx) {
  TF_CHECK(k >= 1, "pca: the number of components must be at least 1");
  TF_CHECK(!a.on_device && !b.on_device, "pca: the neurons must be in host memory");
  TF_CHECK(a.dim == b.dim, "pca: the two sides' neurons have different numbers of features");
  const int64_t n = a.count, m = b.count, f = b.dim;
  std::vector<double> mu = neuron_sums(b);
  for (double& x : mu) x /= double(std::max<int64_t>(f, 1));
  auto whole = [&] {
    if (n != m)
      throw Error(std::string(kPcaWidthError) + ": with pca_k (" + std::to_string(k) + ") at least the " +
                  std::to_string(f) + " captured rows the neurons are compared whole, centred by the anchor's means " +
                  "index by index, which needs " + std::to_string(m) + " neurons in both models, not " +
                  std::to_string(n));
    return centred(a, b, mu);
  };
  if (k >= f) return whole();

  // Gram matrices of the raw neurons in float64, then centred in closed form. The
  // anchor's centred neurons sum to zero over the features, so every principal direction
  // is orthogonal to the constant vector: A's projection does not depend on how A is
  // centred (A_i.(B_j - mu_j) = A_i.B_j - mu_j sum(A_i)), and A may have any width.
  // (B_i - mu_i).(B_j - mu_j) = B_i.B_j - f mu_i mu_j.
  const size_t mm = size_t(m * m), ms = static_cast<size_t>(m);
  std::vector<double> gab(size_t(n * m)), gbb(mm), sq_a(static_cast<size_t>(n)), sq_b(ms), sq_b2(ms);
  ot::gram_f64(a, b, gab.data(), m, sq_a.data(), sq_b.data(), ctx);
  ot::gram_f64(b, b, gbb.data(), m, sq_b.data(), sq_b2.data(), ctx);
  const std::vector<double> sum_a = neuron_sums(a);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < m; ++j) gab[size_t(i * m + j)] -= mu[size_t(j)] * sum_a[size_t(i)];
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < m; ++j) gbb[size_t(i * m + j)] -= double(f) * mu[size_t(i)] * mu[size_t(j)];
  if (ctx) ctx->check_cancelled();

  // C C^T = V S^2 V^T, eigenvalues ascending: the principal directions are the last rows.
  std::vector<double> w(ms), v(mm);
  cpu::symmetric_eigen(gbb.data(), m, w.data(), v.data());
  const double top = w[size_t(m - 1)];
  int64_t rank = 0;
  while (rank < m && w[size_t(m - 1 - rank)] > 1e-12 * top && w[size_t(m - 1 - rank)] > 0) ++rank;
  if (rank == 0) return whole();
  const int64_t kept = std::min(k, rank);

  PcaFeatures out;
  out.dim = kept;
  out.projected = true;
  out.a.resize(size_t(n * kept));
  out.b.resize(size_t(m * kept));
  // The principal directions, largest first (v's last rows, reversed), then
  // A' = (A_c C^T) V_k / s and B' = V_k s, column by column.
  std::vector<double> vk(size_t(kept * m)), proj(size_t(n * kept)), scale(static_cast<size_t>(kept));
  for (int64_t c = 0; c < kept; ++c) {
    std::copy_n(v.data() + (m - 1 - c) * m, m, vk.data() + c * m);
    scale[size_t(c)] = std::sqrt(w[size_t(m - 1 - c)]);
  }
  ot::dgemm_nt(gab.data(), n, vk.data(), kept, m, proj.data(), kept, false);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t c = 0; c < kept; ++c) out.a[size_t(i * kept + c)] = float(proj[size_t(i * kept + c)] / scale[size_t(c)]);
  for (int64_t j = 0; j < m; ++j)
    for (int64_t c = 0; c < kept; ++c) out.b[size_t(j * kept + c)] = float(vk[size_t(c * m + j)] * scale[size_t(c)]);
  return out;
}

}  // namespace tf::fusion
