#include "vit_capture.h"

namespace tf {

std::vector<CapturePoint> vit_capture_points(const VitConfig& c) {
  const int64_t C = c.hidden_size, T = c.tokens(), G = c.grid();
  auto seq = [&](std::string name, int64_t width, bool cls_only = false) {
    return CapturePoint{std::move(name), T, width, true, G, cls_only};
  };
  std::vector<CapturePoint> points;
  points.push_back({"embed.patch", c.num_patches(), C, false, 0, false});
  points.push_back(seq("embed", C));
  static const char* kNames[kVitPointsPerLayer] = {"ln1",  "query", "key",    "value",   "attn_out",
                                                   "attention", "ln2", "mlp_in", "mlp_out", ""};
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const bool last = l == c.num_layers - 1;
    const std::string prefix = "layers." + std::to_string(l);
    for (size_t p = 0; p < kVitPointsPerLayer; ++p) {
      std::string name = p == kLayerOut ? prefix : prefix + "." + kNames[p];
      const int64_t width = p == kMlpIn ? c.intermediate_size : C;
      const bool cls_only = last && (p == kAttnOut || p == kMlpIn || p == kMlpOut);
      points.push_back(seq(std::move(name), width, cls_only));
    }
  }
  points.push_back(seq("final_ln", C));
  points.push_back({"head", 1, c.num_labels, false, 0, false});
  return points;
}

LayerPoints vit_layer_points(const VitConfig& c) {
  const int64_t C = c.hidden_size;
  LayerPoints lp;
  lp.first = vit_point_layer(0, kLn1);
  lp.per_layer = kVitPointsPerLayer;
  lp.num_layers = c.num_layers;
  lp.group_before = [](size_t p) {
    switch (p) {
      case kAttnOut:
      case kAttention: return LayerGroup::Qkv;
      case kLn2:
      case kMlpIn: return LayerGroup::AttnOut;
      case kMlpOut: return LayerGroup::MlpIn;
      case kLayerOut: return LayerGroup::MlpOut;
      default: return LayerGroup::None;
    }
  };
  lp.group_columns = [C](size_t p) {
    switch (p) {
      case kQuery: return GroupColumns{LayerGroup::Qkv, 0};
      case kKey: return GroupColumns{LayerGroup::Qkv, C};
      case kValue: return GroupColumns{LayerGroup::Qkv, 2 * C};
      case kAttnOut:
      case kAttention: return GroupColumns{LayerGroup::AttnOut, 0};
      case kMlpIn: return GroupColumns{LayerGroup::MlpIn, 0};
      case kMlpOut: return GroupColumns{LayerGroup::MlpOut, 0};
      default: return GroupColumns{};
    }
  };
  lp.hidden = C;
  lp.intermediate = c.intermediate_size;
  return lp;
}

}  // namespace tf
