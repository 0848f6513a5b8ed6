// Statistics repair: the per-neuron statistics of a layer's outputs, and the rescaling
// of its weights and bias that moves them onto target statistics.
#include <cmath>
#include <vector>

#include "../thread_pool.h"
#include "fusion.h"

namespace tf::fusion {

void column_mean_std(const float* x, int64_t rows, int64_t cols, double* mean, double* std) {
  parallel_for(cols, 64, [&](int64_t lo, int64_t hi) {
    std::vector<double> s(size_t(hi - lo), 0.0), s2(size_t(hi - lo), 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = x + r * cols;
      for (int64_t c = lo; c < hi; ++c) s[size_t(c - lo)] += double(row[c]);
    }
    for (int64_t c = lo; c < hi; ++c) mean[c] = rows ? s[size_t(c - lo)] / double(rows) : 0.0;
    // A second pass around the mean: no cancellation for neurons with a large offset.
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = x + r * cols;
      for (int64_t c = lo; c < hi; ++c) {
        double d = double(row[c]) - mean[c];
        s2[size_t(c - lo)] += d * d;
      }
    }
    for (int64_t c = lo; c < hi; ++c) std[c] = rows ? std::sqrt(s2[size_t(c - lo)] / double(rows)) : 0.0;
  });
}

void repair_rows(float* weight, float* bias, int64_t rows, int64_t cols, const double* mean, const double* std,
                 const double* target_mean, const double* target_std, double* scale, double* shift) {
  parallel_for(rows, 16, [&](int64_t lo, int64_t hi) {
    for (int64_t j = lo; j < hi; ++j) {
      // y' = a y + c with a = target_std / std and c = target_mean - a mean; y = W_j x + b_j.
      const double a = std[j] > 1e-12 * (1.0 + std::fabs(mean[j])) ? target_std[j] / std[j] : 1.0;
      const double c = target_mean[j] - a * mean[j];
      float* w = weight + j * cols;
      for (int64_t k = 0; k < cols; ++k) w[k] = float(a * double(w[k]));
      bias[j] = float(a * double(bias[j]) + c);
      if (scale) scale[j] = a;
      if (shift) shift[j] = c;
    }
  });
}

}  // namespace tf::fusion
