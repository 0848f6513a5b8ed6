// BERT's embedding sum: one word, one position and one token-type row per token.
#include <algorithm>

#include "../thread_pool.h"
#include "simd.h"
#include "text_kernels.h"

namespace tf::cpu {

namespace {

using namespace simd;

TF_SIMD_CLONES
void sum_three_rows(float* out, const float* a, const float* b, const float* c, int64_t n) {
  const int64_t nv = n / kLanes * kLanes;
  for (int64_t i = 0; i < nv; i += kLanes) store(out + i, load(a + i) + load(b + i) + load(c + i));
  for (int64_t i = nv; i < n; ++i) out[i] = a[i] + b[i] + c[i];
}

}  // namespace

void token_embeddings_forward(float* out, const int32_t* ids, const int32_t* type_ids, const float* word,
                              const float* position, const float* type, int64_t batch, int64_t tokens,
                              int64_t channels) {
  const int64_t grain = std::max<int64_t>(1, 16384 / std::max<int64_t>(channels, 1));
  parallel_for(batch * tokens, grain, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t t = r % tokens;
      const int64_t kind = type_ids ? type_ids[r] : 0;
      sum_three_rows(out + r * channels, word + int64_t(ids[r]) * channels, position + t * channels,
                     type + kind * channels, channels);
    }
  });
}

}  // namespace tf::cpu
