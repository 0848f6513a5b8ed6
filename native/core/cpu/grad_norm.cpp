// Squared L2 norms for global-norm gradient clipping, in double and in a fixed order.
#include <algorithm>
#include <cstring>
#include <vector>

#include "../thread_pool.h"
#include "simd.h"
#include "train_kernels.h"

namespace tf::cpu {

namespace {

constexpr int64_t kBlock = 1 << 14;

TF_SIMD_CLONES
double block_sum_squares(const float* x, int64_t n) {
  // Four independent double accumulators keep the adds pipelined; their order is fixed.
  double acc[4] = {0, 0, 0, 0};
  int64_t i = 0;
  for (; i + 4 <= n; i += 4)
    for (int k = 0; k < 4; ++k) acc[k] += double(x[i + k]) * double(x[i + k]);
  for (; i < n; ++i) acc[0] += double(x[i]) * double(x[i]);
  return (acc[0] + acc[1]) + (acc[2] + acc[3]);
}

}  // namespace

void zero(float* x, int64_t n) {
  parallel_for(n, 1 << 16, [&](int64_t b, int64_t e) { std::memset(x + b, 0, size_t(e - b) * sizeof(float)); });
}

double sum_squares(const float* x, int64_t n) {
  if (n <= 0) return 0.0;
  const int64_t blocks = (n + kBlock - 1) / kBlock;
  std::vector<double> partial(static_cast<size_t>(blocks));
  parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      partial[size_t(b)] = block_sum_squares(x + b * kBlock, std::min(kBlock, n - b * kBlock));
  });
  double s = 0.0;
  for (double p : partial) s += p;
  return s;
}

}  // namespace tf::cpu
