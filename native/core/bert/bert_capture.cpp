#include "bert_capture.h"

namespace tf {

std::vector<CapturePoint> bert_capture_points(const BertConfig& c) {
  const int64_t C = c.hidden_size, T = c.max_positions;
  // A token output: a full sequence with no patch grid (window filters do not apply),
  // whose padding rows the store leaves out.
  auto seq = [&](std::string name, int64_t width, bool cls_only = false) {
    CapturePoint p{std::move(name), T, width, true, 0, cls_only};
    p.padded = true;
    return p;
  };
  std::vector<CapturePoint> points;
  points.push_back(seq("embed", C));
  static const char* kNames[kBertPointsPerLayer] = {"query", "key", "value", "attn_out", "attn_ln", "mlp_in", "mlp_out", ""};
  for (int64_t l = 0; l < c.num_layers; ++l) {
    // Under a sequence filter the classifier's last layer keeps CLS only where nothing
    // but CLS flows on (as in the ViT: attention projection and MLP).
    const bool last_cls = !c.masked_lm() && l == c.num_layers - 1;
    const std::string prefix = "layers." + std::to_string(l);
    for (size_t p = 0; p < kBertPointsPerLayer; ++p) {
      std::string name = p == kBertLayerOut ? prefix : prefix + "." + kNames[p];
      const int64_t width = p == kBertMlpIn ? c.intermediate_size : C;
      const bool cls_only = last_cls && (p == kBertAttnOut || p == kBertMlpIn || p == kBertMlpOut);
      points.push_back(seq(std::move(name), width, cls_only));
    }
  }
  if (c.masked_lm()) {
    points.push_back(seq("mlm.transform", C));
    points.push_back(seq("mlm.ln", C));
  } else {
    points.push_back({"pooler", 1, C, false, 0, false});
    points.push_back({"classifier", 1, c.num_labels, false, 0, false});
  }
  return points;
}

LayerPoints bert_layer_points(const BertConfig& c) {
  const int64_t C = c.hidden_size;
  LayerPoints lp;
  lp.first = bert_point_layer(0, kBertQuery);
  lp.per_layer = kBertPointsPerLayer;
  lp.num_layers = c.num_layers;
  lp.group_before = [](size_t p) {
    switch (p) {
      case kBertAttnOut: return LayerGroup::Qkv;
      case kBertAttnLn:
      case kBertMlpIn: return LayerGroup::AttnOut;
      case kBertMlpOut: return LayerGroup::MlpIn;
      case kBertLayerOut: return LayerGroup::MlpOut;
      default: return LayerGroup::None;
    }
  };
  lp.group_columns = [C](size_t p) {
    switch (p) {
      case kBertQuery: return GroupColumns{LayerGroup::Qkv, 0};
      case kBertKey: return GroupColumns{LayerGroup::Qkv, C};
      case kBertValue: return GroupColumns{LayerGroup::Qkv, 2 * C};
      case kBertAttnOut: return GroupColumns{LayerGroup::AttnOut, 0};
      case kBertMlpIn: return GroupColumns{LayerGroup::MlpIn, 0};
      case kBertMlpOut: return GroupColumns{LayerGroup::MlpOut, 0};
      default: return GroupColumns{};
    }
  };
  lp.hidden = C;
  lp.intermediate = c.intermediate_size;
  return lp;
}

}  // namespace tf
