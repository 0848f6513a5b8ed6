// Training-time augmentation (random crop of the zero-padded image, horizontal flip),
// twin of cpu/augment.cpp. The per-image draws come from the same counter-based streams,
// drawn on the host (three small integers per image) and uploaded; the kernel only moves
// pixels, so the result is bit-identical to the CPU's.
#include <algorithm>
#include <vector>

#include "../error.h"
#include "../train/rng.h"
#include "encoder_kernels.h"
#include "launch.cuh"

namespace tf::cuda {

namespace {

struct Draw {
  int32_t top, left, flip;
};

__global__ void augment_kernel(float* out, const float* images, int64_t batch, int64_t channels, int64_t size,
                               const Draw* draws, const float* fill) {
  const int64_t plane = size * size;
  TF_GRID_STRIDE(idx, batch * channels * plane) {
    const int64_t x = idx % size, y = (idx / size) % size, c = (idx / plane) % channels, b = idx / (plane * channels);
    const Draw d = draws[b];
    const int64_t sy = y + d.top, sx = (d.flip ? size - 1 - x : x) + d.left;
    out[idx] = sy >= 0 && sy < size && sx >= 0 && sx < size ? images[(b * channels + c) * plane + sy * size + sx]
                                                             : fill[c];
  }
}

}  // namespace

void augment_images(float* out, const float* images, int64_t batch, int64_t channels, int64_t size,
                    const AugmentParams& a, cudaStream_t stream) {
  TF_CHECK(a.crop_padding >= 0, "augment: crop padding must not be negative");
  TF_CHECK(a.fill.empty() || int64_t(a.fill.size()) == channels, "augment: one fill value per channel");
  if (batch <= 0 || channels <= 0 || size <= 0) return;
  const int64_t pad = a.crop_padding;
  std::vector<Draw> draws(static_cast<size_t>(batch));
  for (int64_t b = 0; b < batch; ++b) {
    // torchvision's order of draws: crop top, crop left, then the flip (as the CPU).
    CounterRng rng(stream_key(a.seed, uint64_t(b)));
    const int64_t top = pad ? int64_t(rng.below(uint64_t(2 * pad + 1))) - pad : 0;
    const int64_t left = pad ? int64_t(rng.below(uint64_t(2 * pad + 1))) - pad : 0;
    const bool flip = a.horizontal_flip && rng.below(2) == 1;
    draws[size_t(b)] = {int32_t(top), int32_t(left), flip ? 1 : 0};
  }
  std::vector<float> fill(static_cast<size_t>(channels), 0.0f);
  if (!a.fill.empty()) std::copy(a.fill.begin(), a.fill.end(), fill.begin());
  Scratch dev(draws.size() * sizeof(Draw) + fill.size() * sizeof(float), stream);
  Draw* dev_draws = dev.as<Draw>();
  float* dev_fill = reinterpret_cast<float*>(dev_draws + batch);
  upload_now(dev_draws, draws.data(), draws.size() * sizeof(Draw), stream);
  upload_now(dev_fill, fill.data(), fill.size() * sizeof(float), stream);
  augment_kernel<<<grid_for(batch * channels * size * size), kThreads, 0, stream>>>(out, images, batch, channels, size,
                                                                                   dev_draws, dev_fill);
  TF_CUDA_CHECK_LAUNCH();
}

}  // namespace tf::cuda
