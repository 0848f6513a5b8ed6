// The module outputs a ViT forward pass can capture, in the order it produces them.
// Index i of vit_capture_points() is the `point` argument the forward pass gives the
// sink. Default names are the core's own; the TypeScript adapter renames them to
// Hugging Face module names when it builds the model.
//
//   0                 embed.patch          patch projection output (patches x hidden)
//   1                 embed                CLS + patches + position embeddings (tokens x hidden)
//   2 + 10 l + 0      layers.l.ln1         LayerNorm before attention
//            + 1..3   layers.l.query|key|value
//            + 4      layers.l.attn_out    attention output projection (before the residual)
//            + 5      layers.l.attention   the same values as the attention block's output (HF's
//                                          ViTAttention); unlike attn_out it keeps every token
//                                          of the last layer under a sequence filter, which is
//                                          what the residual policies weigh against the block input
//            + 6      layers.l.ln2         LayerNorm after attention
//            + 7      layers.l.mlp_in      first MLP linear, BEFORE GELU
//            + 8      layers.l.mlp_out     second MLP linear (before the residual)
//            + 9      layers.l             layer output: input + attn_out + mlp_out
//   2 + 10 L          final_ln             final LayerNorm (all tokens)
//   3 + 10 L          head                 classifier logits (one row per sample)
#pragma once

#include <vector>

#include "../activations/capture_point.h"
#include "../activations/layer_resume.h"
#include "vit_config.h"

namespace tf {

constexpr size_t kVitPointsPerLayer = 10;
enum VitLayerPoint : size_t {
  kLn1 = 0, kQuery, kKey, kValue, kAttnOut, kAttention, kLn2, kMlpIn, kMlpOut, kLayerOut
};

inline size_t vit_point_patch() { return 0; }
inline size_t vit_point_embed() { return 1; }
inline size_t vit_point_layer(int64_t layer, VitLayerPoint p) { return 2 + size_t(layer) * kVitPointsPerLayer + p; }
inline size_t vit_point_final_ln(const VitConfig& c) { return 2 + size_t(c.num_layers) * kVitPointsPerLayer; }
inline size_t vit_point_head(const VitConfig& c) { return vit_point_final_ln(c) + 1; }

std::vector<CapturePoint> vit_capture_points(const VitConfig& config);

// The layers' points and their linear groups, for re-entering a layer (layer_resume.h).
LayerPoints vit_layer_points(const VitConfig& config);

}  // namespace tf
