// The arithmetic of the residual policies and the activity statistics they weigh by.
#include <cmath>
#include <vector>

#include "../thread_pool.h"
#include "fusion.h"

namespace tf::fusion {

void combine_maps(const float* t_res, const float* t_sub, const float* w_res, const float* w_sub, int64_t n,
                  int64_t m, float* out) {
  parallel_for(n, 64, [&](int64_t lo, int64_t hi) {
    for (int64_t i = lo; i < hi; ++i)
      for (int64_t j = 0; j < m; ++j)
        out[i * m + j] = t_res[i * m + j] * w_res[j] + t_sub[i * m + j] * w_sub[j];
  });
}

void column_mean_abs(const float* const* xs, int count, int64_t rows, int64_t cols, double* out) {
  // Columns in parallel chunks; each chunk walks the rows so reads stay sequential.
  parallel_for(cols, 64, [&](int64_t lo, int64_t hi) {
    std::vector<double> acc(size_t(hi - lo), 0.0);
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t c = lo; c < hi; ++c) {
        double v = 0.0;
        for (int k = 0; k < count; ++k) v += double(xs[k][r * cols + c]);
        acc[size_t(c - lo)] += std::fabs(v);
      }
    }
    for (int64_t c = lo; c < hi; ++c) out[c] = rows ? acc[size_t(c - lo)] / double(rows) : 0.0;
  });
}

}  // namespace tf::fusion
