// Backward twins of the text encoder's own kernels (text_kernels.h): the embedding sum's
// scatter into the word, position and token-type tables, the pooler's tanh, and the
// indexed row scatter that undoes the masked-LM head's gather. Sums into shared rows
// (two tokens with the same id, every sample's position t) split the channels between
// threads and walk the rows in order inside each slice, so the result is the same bits
// for any thread count.
#include <algorithm>

#include "../thread_pool.h"
#include "text_kernels.h"

namespace tf::cpu {

namespace {

// Channel slices of at least 16 floats; each thread owns whole slices.
template <typename Fn>
void over_channel_slices(int64_t channels, int64_t rows, Fn&& fn) {
  constexpr int64_t kSlice = 16;
  const int64_t slices = (channels + kSlice - 1) / kSlice;
  const int64_t grain = std::max<int64_t>(1, 8192 / std::max<int64_t>(rows * kSlice, 1));
  parallel_for(slices, grain, [&](int64_t s0, int64_t s1) {
    fn(s0 * kSlice, std::min(channels, s1 * kSlice));
  });
}

}  // namespace

void token_embeddings_backward(float* dword, float* dposition, float* dtype, const float* dout, const int32_t* ids,
                               const int32_t* type_ids, int64_t batch, int64_t tokens, int64_t channels) {
  const int64_t rows = batch * tokens;
  over_channel_slices(channels, rows, [&](int64_t c0, int64_t c1) {
    for (int64_t r = 0; r < rows; ++r) {
      const float* g = dout + r * channels;
      float* w = dword + int64_t(ids[r]) * channels;
      float* p = dposition + (r % tokens) * channels;
      float* t = dtype + (type_ids ? int64_t(type_ids[r]) : 0) * channels;
      for (int64_t c = c0; c < c1; ++c) {
        w[c] += g[c];
        p[c] += g[c];
        t[c] += g[c];
      }
    }
  });
}

void tanh_backward(float* dpre, const float* out, const float* dout, int64_t n) {
  parallel_for(n, 16384, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) dpre[i] = dout[i] * (1.0f - out[i] * out[i]);
  });
}

void scatter_add_rows_indexed(float* dst, const float* src, const int32_t* index, int64_t rows, int64_t cols) {
  over_channel_slices(cols, rows, [&](int64_t c0, int64_t c1) {
    for (int64_t r = 0; r < rows; ++r) {
      float* d = dst + int64_t(index[r]) * cols;
      const float* s = src + r * cols;
      for (int64_t c = c0; c < c1; ++c) d[c] += s[c];
    }
  });
}

}  // namespace tf::cpu
