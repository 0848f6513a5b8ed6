#include <algorithm>
#include <cstring>
#include <vector>

#include "../thread_pool.h"
#include "activation_kernels.h"

namespace tf::cpu {

void gather_mean_rows(float* dst, const float* src, int64_t src_stride, int64_t cols, const int32_t* offsets,
                      const int32_t* indices, int64_t segments) {
  if (segments <= 0 || cols <= 0) return;
  parallel_for(segments, std::max<int64_t>(1, 4096 / cols), [&](int64_t s0, int64_t s1) {
    std::vector<double> acc;
    for (int64_t s = s0; s < s1; ++s) {
      float* out = dst + s * cols;
      const int32_t k0 = offsets[s], k1 = offsets[s + 1];
      if (k1 - k0 == 1) {  // the common case: a chosen row, copied as it is
        std::memcpy(out, src + int64_t(indices[k0]) * src_stride, size_t(cols) * sizeof(float));
        continue;
      }
      acc.assign(size_t(cols), 0.0);
      for (int32_t k = k0; k < k1; ++k) {
        const float* row = src + int64_t(indices[k]) * src_stride;
        for (int64_t c = 0; c < cols; ++c) acc[size_t(c)] += row[c];
      }
      const double count = double(std::max<int32_t>(k1 - k0, 1));
      for (int64_t c = 0; c < cols; ++c) out[c] = float(acc[size_t(c)] / count);
    }
  });
}

}  // namespace tf::cpu
