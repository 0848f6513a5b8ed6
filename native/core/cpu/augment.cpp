// Training-time image augmentation on normalised (batch, channels, size, size) images:
// random crop of the zero-padded image and horizontal flip, one pass per image.
#include <algorithm>

#include "../error.h"
#include "../thread_pool.h"
#include "../train/rng.h"
#include "train_kernels.h"

namespace tf::cpu {

void augment_images(float* out, const float* images, int64_t batch, int64_t channels, int64_t size,
                    const AugmentParams& a) {
  TF_CHECK(a.crop_padding >= 0, "augment: crop padding must not be negative");
  TF_CHECK(a.fill.empty() || int64_t(a.fill.size()) == channels, "augment: one fill value per channel");
  const int64_t pad = a.crop_padding;
  const int64_t plane = size * size;
  parallel_for(batch, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      // torchvision's order of draws: crop top, crop left, then the flip.
      CounterRng rng(stream_key(a.seed, uint64_t(b)));
      const int64_t top = pad ? int64_t(rng.below(uint64_t(2 * pad + 1))) - pad : 0;
      const int64_t left = pad ? int64_t(rng.below(uint64_t(2 * pad + 1))) - pad : 0;
      const bool flip = a.horizontal_flip && rng.below(2) == 1;
      for (int64_t c = 0; c < channels; ++c) {
        const float fill = a.fill.empty() ? 0.0f : a.fill[size_t(c)];
        const float* src = images + (b * channels + c) * plane;
        float* dst = out + (b * channels + c) * plane;
        for (int64_t y = 0; y < size; ++y) {
          float* row = dst + y * size;
          const int64_t sy = y + top;
          if (sy < 0 || sy >= size) {
            std::fill(row, row + size, fill);
            continue;
          }
          const float* srow = src + sy * size;
          // Output column x reads source column (flip ? size - 1 - x : x) + left.
          for (int64_t x = 0; x < size; ++x) {
            const int64_t sx = (flip ? size - 1 - x : x) + left;
            row[x] = sx >= 0 && sx < size ? srow[sx] : fill;
          }
        }
      }
    }
  });
}

}  // namespace tf::cpu
