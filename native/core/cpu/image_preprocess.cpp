#include "image_preprocess.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "../error.h"
#include "../thread_pool.h"

namespace tf::cpu {

namespace {

// Taps of a 1-D resize from `in` to `out` samples: output i reads source pixels
// [start[i], start[i] + count[i]) with weights at weights[i * max_taps ...].
struct ResizeTaps {
  std::vector<int64_t> start, count;
  std::vector<float> weights;
  int64_t max_taps = 0;
};

ResizeTaps resize_taps(int64_t in, int64_t out) {
  ResizeTaps t;
  const double scale = double(in) / double(out);
  const double filter_scale = std::max(scale, 1.0);
  const double support = filter_scale;  // the triangle's support (1) times the widening
  t.max_taps = int64_t(std::ceil(support)) * 2 + 1;
  t.start.resize(size_t(out));
  t.count.resize(size_t(out));
  t.weights.assign(size_t(out * t.max_taps), 0.0f);
  for (int64_t i = 0; i < out; ++i) {
    const double center = (double(i) + 0.5) * scale;
    const int64_t lo = std::max<int64_t>(0, int64_t(std::floor(center - support)));
    const int64_t hi = std::min<int64_t>(in, int64_t(std::ceil(center + support)));
    std::vector<double> w;
    double total = 0;
    for (int64_t k = lo; k < hi; ++k) {
      const double d = std::fabs((double(k) + 0.5 - center) / filter_scale);
      const double v = d < 1.0 ? 1.0 - d : 0.0;
      w.push_back(v);
      total += v;
    }
    // Trim zero-weight taps at both ends so `count` stays within max_taps.
    int64_t first = 0, last = int64_t(w.size());
    while (first < last && w[size_t(first)] == 0.0) ++first;
    while (last > first && w[size_t(last - 1)] == 0.0) --last;
    t.start[i] = lo + first;
    t.count[i] = last - first;
    for (int64_t k = first; k < last; ++k) t.weights[size_t(i * t.max_taps + k - first)] = float(w[size_t(k)] / total);
  }
  return t;
}

}  // namespace

void preprocess_images(float* out, const uint8_t* src, int64_t count, const SourceImages& s,
                       const PreprocessSpec& p) {
  TF_CHECK(s.height > 0 && s.width > 0 && s.channels > 0, "preprocess: empty source images");
  TF_CHECK(p.height > 0 && p.width > 0 && p.channels > 0, "preprocess: empty output images");
  if (p.rule == ChannelRule::Copy) TF_CHECK(s.channels >= p.channels, "preprocess: too few source channels to copy");
  if (p.rule == ChannelRule::Luminance) TF_CHECK(s.channels >= 3, "preprocess: luminance needs RGB sources");
  const bool resize = s.height != p.height || s.width != p.width;
  const ResizeTaps tx = resize ? resize_taps(s.width, p.width) : ResizeTaps{};
  const ResizeTaps ty = resize ? resize_taps(s.height, p.height) : ResizeTaps{};
  const int64_t src_pixels = s.height * s.width, src_image = src_pixels * s.channels;
  const int64_t out_pixels = p.height * p.width;

  parallel_for(count, 1, [&](int64_t i0, int64_t i1) {
    std::vector<float> plane(static_cast<size_t>(src_pixels)), rows(static_cast<size_t>(s.height * p.width)),
        sized(static_cast<size_t>(out_pixels));
    for (int64_t i = i0; i < i1; ++i) {
      const uint8_t* img = src + i * src_image;
      // Source value of channel c at pixel q (0..H*W), in [0, 255].
      auto at = [&](int64_t c, int64_t q) -> float {
        return s.planar ? float(img[c * src_pixels + q]) : float(img[q * s.channels + c]);
      };
      for (int64_t c = 0; c < p.channels; ++c) {
        for (int64_t q = 0; q < src_pixels; ++q) {
          float v;
          switch (p.rule) {
            case ChannelRule::Replicate: v = at(0, q); break;
            case ChannelRule::Luminance: v = 0.299f * at(0, q) + 0.587f * at(1, q) + 0.114f * at(2, q); break;
            default: v = at(c, q); break;
          }
          plane[size_t(q)] = v * (1.0f / 255.0f);
        }
        const float* ready = plane.data();
        if (resize) {
          for (int64_t y = 0; y < s.height; ++y)
            for (int64_t x = 0; x < p.width; ++x) {
              const float* w = tx.weights.data() + x * tx.max_taps;
              const float* line = plane.data() + y * s.width + tx.start[x];
              float acc = 0;
              for (int64_t k = 0; k < tx.count[x]; ++k) acc += w[k] * line[k];
              rows[size_t(y * p.width + x)] = acc;
            }
          for (int64_t y = 0; y < p.height; ++y) {
            const float* w = ty.weights.data() + y * ty.max_taps;
            float* dst = sized.data() + y * p.width;
            std::fill(dst, dst + p.width, 0.0f);
            for (int64_t k = 0; k < ty.count[y]; ++k) {
              const float* line = rows.data() + (ty.start[y] + k) * p.width;
              for (int64_t x = 0; x < p.width; ++x) dst[x] += w[k] * line[x];
            }
          }
          ready = sized.data();
        }
        const float m = p.mean[c], inv = 1.0f / p.std[c];
        float* dst = out + (i * p.channels + c) * out_pixels;
        for (int64_t q = 0; q < out_pixels; ++q) dst[q] = (ready[q] - m) * inv;
      }
    }
  });
}

}  // namespace tf::cpu
