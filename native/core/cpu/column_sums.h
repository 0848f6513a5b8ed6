// Sums down the columns of a row-major matrix whose result does not depend on how the
// pool schedules the work: the rows are cut into fixed blocks, each block writes its own
// partial sums, and the partials are added in block order in double. Backward kernels
// use it for every parameter gradient that is a sum over rows (biases, LayerNorm gains),
// so that training with a fixed thread count is bit-reproducible.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

#include "../thread_pool.h"

namespace tf::cpu {

constexpr int64_t kColumnSumBlockRows = 64;

// For K outputs of `cols` floats each: out[k][c] += sum over rows of what `block` writes.
// block(r0, r1, partial) is called once per block of rows [r0, r1) with K zeroed rows
// of partial sums, partial[k * cols + c], to add that block's contributions into.
template <int K, typename BlockFn>
void blocked_column_sums(float* const (&out)[K], int64_t rows, int64_t cols, BlockFn&& block) {
  if (rows <= 0 || cols <= 0) return;
  const int64_t blocks = (rows + kColumnSumBlockRows - 1) / kColumnSumBlockRows;
  const int64_t per_block = K * cols;
  // Only the calling thread touches this scratch (workers write disjoint block slots).
  thread_local std::vector<float> scratch;
  if (int64_t(scratch.size()) < blocks * per_block) scratch.resize(size_t(blocks * per_block));
  float* partials = scratch.data();
  parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      float* p = partials + b * per_block;
      std::fill(p, p + per_block, 0.0f);
      block(b * kColumnSumBlockRows, std::min(rows, (b + 1) * kColumnSumBlockRows), p);
    }
  });
  parallel_for(cols, std::max<int64_t>(1, 4096 / blocks), [&](int64_t c0, int64_t c1) {
    for (int k = 0; k < K; ++k)
      for (int64_t c = c0; c < c1; ++c) {
        double s = 0.0;
        for (int64_t b = 0; b < blocks; ++b) s += partials[b * per_block + k * cols + c];
        out[k][c] += float(s);
      }
  });
}

}  // namespace tf::cpu
