// Cross-entropy and argmax of logit rows in one pass each: the masked-LM head scores a
// vocabulary-wide row per labelled token, so this runs on the pool, with vectorised exp
// and the sum kept in double.
#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "../backend.h"
#include "../error.h"
#include "../thread_pool.h"
#include "simd.h"
#include "text_kernels.h"

namespace tf::cpu {

namespace {

using namespace simd;

// Returns log(sum_c exp(z[c] - m)) for a row whose maximum is m.
TF_SIMD_CLONES
double log_sum_exp_shifted(const float* z, int64_t n, float m) {
  const int64_t nv = n / kLanes * kLanes;
  const vf8 vm = splat(m);
  double sum = 0.0;
  // Partial sums per block of vectors stay small enough for float; blocks add in double.
  for (int64_t j0 = 0; j0 < nv; j0 += 64 * kLanes) {
    vf8 acc = splat(0.0f);
    const int64_t j1 = std::min(nv, j0 + 64 * kLanes);
    for (int64_t j = j0; j < j1; j += kLanes) acc += exp(load(z + j) - vm);
    sum += double(hsum(acc));
  }
  for (int64_t j = nv; j < n; ++j) sum += double(exp1(z[j] - m));
  return std::log(sum);
}

}  // namespace

void softmax_cross_entropy_forward(float* losses, int32_t* predictions, const float* logits, const int32_t* labels,
                                   int64_t rows, int64_t classes) {
  if (labels) {
    for (int64_t r = 0; r < rows; ++r)
      if (labels[r] != kIgnoreLabel && (labels[r] < 0 || labels[r] >= classes))
        throw Error("cross entropy: label " + std::to_string(labels[r]) + " of row " + std::to_string(r) +
                    " is outside [0, " + std::to_string(classes) + ")");
  }
  const int64_t grain = std::max<int64_t>(1, 65536 / std::max<int64_t>(classes, 1));
  parallel_for(rows, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* z = logits + r * classes;
      int64_t best = 0;
      for (int64_t c = 1; c < classes; ++c)
        if (z[c] > z[best]) best = c;
      if (predictions) predictions[r] = int32_t(best);
      if (losses && labels && labels[r] == kIgnoreLabel) {
        losses[r] = std::numeric_limits<float>::quiet_NaN();
      } else if (losses && labels) {
        const float m = z[best];
        losses[r] = float(double(m) + log_sum_exp_shifted(z, classes, m) - double(z[labels[r]]));
      }
    }
  });
}

}  // namespace tf::cpu
