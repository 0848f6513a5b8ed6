// Row-wise steps of BERT's heads: the pooler's bias + tanh and gathers of rows by index
// (the masked-LM head decodes only the tokens that carry a label).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "../thread_pool.h"
#include "text_kernels.h"

namespace tf::cpu {

namespace {
int64_t row_grain(int64_t cols) { return std::max<int64_t>(1, 16384 / std::max<int64_t>(cols, 1)); }
}  // namespace

void bias_tanh_forward(float* pre, float* out, const float* bias, int64_t rows, int64_t cols) {
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      for (int64_t c = 0; c < cols; ++c) {
        const float x = pre[r * cols + c] + bias[c];
        pre[r * cols + c] = x;
        out[r * cols + c] = std::tanh(x);
      }
  });
}

void gather_rows_indexed(float* dst, const float* src, const int32_t* index, int64_t rows, int64_t cols) {
  parallel_for(rows, row_grain(cols), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r)
      std::memcpy(dst + r * cols, src + int64_t(index[r]) * cols, size_t(cols) * sizeof(float));
  });
}

}  // namespace tf::cpu
