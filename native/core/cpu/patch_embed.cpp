// The pieces of the ViT embedding around its one GEMM: cutting images into flattened
// patches (im2col for a stride == kernel convolution) and assembling CLS token, patch
// projections and position embeddings into the token sequence, and that assembly's backward.
#include <algorithm>
#include <cstring>
#include <vector>

#include "../thread_pool.h"
#include "encoder_kernels.h"

namespace tf::cpu {

void patch_extract(float* patches, const float* images, int64_t batch, int64_t channels, int64_t image_size,
                   int64_t patch_size) {
  const int64_t grid = image_size / patch_size;
  const int64_t per_patch = channels * patch_size * patch_size;
  parallel_for(batch * grid, 1, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {  // r = (sample, grid row)
      const int64_t b = r / grid, gy = r % grid;
      for (int64_t gx = 0; gx < grid; ++gx) {
        float* dst = patches + ((b * grid + gy) * grid + gx) * per_patch;
        for (int64_t c = 0; c < channels; ++c)
          for (int64_t y = 0; y < patch_size; ++y) {
            const float* src = images + ((b * channels + c) * image_size + gy * patch_size + y) * image_size +
                               gx * patch_size;
            std::memcpy(dst + (c * patch_size + y) * patch_size, src, size_t(patch_size) * sizeof(float));
          }
      }
    }
  });
}

void embeddings_assemble(float* out, const float* patch_out, const float* cls, const float* pos, int64_t batch,
                         int64_t patches, int64_t channels) {
  const int64_t tokens = patches + 1;
  parallel_for(batch * tokens, std::max<int64_t>(1, 8192 / channels), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / tokens, t = r % tokens;
      const float* src = t == 0 ? cls : patch_out + (b * patches + t - 1) * channels;
      const float* p = pos + t * channels;
      float* dst = out + r * channels;
      for (int64_t c = 0; c < channels; ++c) dst[c] = src[c] + p[c];
    }
  });
}

}  // namespace tf::cpu

namespace tf::cpu {

void embeddings_backward(float* dpatch_out, float* dcls, float* dpos, const float* dembed, int64_t batch,
                         int64_t patches, int64_t channels) {
  const int64_t tokens = patches + 1;
  parallel_for(batch * patches, std::max<int64_t>(1, 8192 / channels), [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / patches, p = r % patches;
      std::memcpy(dpatch_out + r * channels, dembed + (b * tokens + 1 + p) * channels, size_t(channels) * sizeof(float));
    }
  });
  // Position t's gradient is the sum over the batch of token t's; CLS's is that of t = 0.
  // Each token's sums run over the batch in order, in double.
  parallel_for(tokens, std::max<int64_t>(1, 8192 / (channels * std::max<int64_t>(batch, 1))), [&](int64_t t0, int64_t t1) {
    std::vector<double> acc(static_cast<size_t>(channels));
    for (int64_t t = t0; t < t1; ++t) {
      std::fill(acc.begin(), acc.end(), 0.0);
      for (int64_t b = 0; b < batch; ++b) {
        const float* row = dembed + (b * tokens + t) * channels;
        for (int64_t c = 0; c < channels; ++c) acc[size_t(c)] += row[c];
      }
      float* pos = dpos + t * channels;
      for (int64_t c = 0; c < channels; ++c) pos[c] += float(acc[size_t(c)]);
      if (t == 0)
        for (int64_t c = 0; c < channels; ++c) dcls[c] += float(acc[size_t(c)]);
    }
  });
}

}  // namespace tf::cpu
