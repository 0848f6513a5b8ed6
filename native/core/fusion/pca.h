// The fusion's PCA option (fusion.pca, activations mode, as the reference has it): before
// the cost, the neurons of both models are re-expressed in the anchor's top principal
// directions of the sample space. With A (model being aligned) and B (the anchor) as
// neurons x features matrices (a feature is one captured row: a sample's token) and mu_j
// the mean of anchor neuron j over the features:
//   C = the anchor centred, rows B_j - mu_j (the reference's act_1 - mean);
//   U_k = C's top k left singular vectors (directions in feature space);
//   A'_i = U_k^T (A_i - mu_i), B'_j = U_k^T (B_j - mu_j): k features per neuron.
// The anchor's centred neurons sum to zero over the features, so U_k is orthogonal to the
// constant vector and A's projection does not depend on how A is centred: the model
// being aligned may have any width. Only where the neurons are compared whole (below)
// does the reference's index-by-index centring need equal widths (a tf::Error starting
// with kPcaWidthError otherwise). U_k comes from the eigen-decomposition of
// the anchor's m x m Gram matrix C C^T (never the features x features one): U_k =
// C^T V_k S_k^-1, so A' = (A_c C^T) V_k S_k^-1 and B' = V_k S_k, with float64 products.
// Where k is at least the number of features, U_k spans the whole feature space and the
// projection is an isometry: the centred neurons are compared as they are. Where k lies
// between C's rank and the number of features, the reference's full SVD fills the
// directions beyond the rank with an arbitrary basis of their complement; here only the
// rank's directions are kept (the projection onto C's row space). An anchor with no
// spread at all (rank 0) keeps the centred neurons whole.
#pragma once

#include <cstdint>
#include <vector>

#include "../ot/ot.h"
#include "../task.h"

namespace tf::fusion {

constexpr const char* kPcaWidthError = "pca: unequal widths";

struct PcaFeatures {
  std::vector<float> a, b;  // neurons as rows: a.count x dim and b.count x dim
  int64_t dim = 0;
  bool projected = false;  // false: the centred neurons whole (k >= features, or rank 0)
};

// a and b in host memory with the same number of features; k >= 1.
PcaFeatures pca_features(const ot::NeuronView& a, const ot::NeuronView& b, int64_t k, TaskContext* ctx = nullptr);

}  // namespace tf::fusion
