// Turns 8-bit images as datasets store them into the normalised float tensors a vision
// model reads: channel conversion, resizing and per-channel normalisation in one pass
// per image. Host memory only (it feeds the input pipeline, not a backend).
#pragma once

#include <cstdint>

namespace tf::cpu {

// How output channels come from source channels.
enum class ChannelRule {
  Copy,       // output channel c = source channel c (extra source channels, e.g. alpha, unused)
  Replicate,  // every output channel = source channel 0 (grayscale -> RGB)
  Luminance,  // 0.299 R + 0.587 G + 0.114 B (RGB -> grayscale, as PIL's convert("L"))
};

struct SourceImages {
  int64_t height = 0, width = 0, channels = 0;
  bool planar = false;  // true: (C, H, W) per image (CIFAR); false: (H, W, C) (decoded PNG/JPEG, IDX)
};

struct PreprocessSpec {
  int64_t height = 0, width = 0, channels = 0;  // output, (C, H, W) per image
  ChannelRule rule = ChannelRule::Copy;
  const float* mean = nullptr;  // per output channel, applied after scaling to [0, 1]
  const float* std = nullptr;
};

// out[i] = (resize(channels(src[i] / 255)) - mean) / std for `count` images. Resizing is
// separable bilinear with PIL's filter support: a triangle filter widened by the scale
// factor when shrinking (antialiased), plain bilinear interpolation between pixel
// centres when enlarging; weights renormalised at the borders. Float arithmetic
// throughout, so results differ from PIL's 8-bit ones by rounding only.
void preprocess_images(float* out, const uint8_t* src, int64_t count, const SourceImages& source,
                       const PreprocessSpec& spec);

}  // namespace tf::cpu
