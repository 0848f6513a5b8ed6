// The module outputs a BERT forward pass can capture, in the order it produces them.
// Index i of bert_capture_points() is the `point` the forward pass gives the sink.
// Default names are the core's own; lib/models/bert.ts renames them to HF module names.
//
//   0               embed             embeddings after their LayerNorm        (bert.embeddings)
//   1 + 8 l + 0..2  layers.l.query|key|value                                  (...attention.self.query|key|value)
//           + 3     layers.l.attn_out attention output projection, before the residual (...attention.output.dense)
//           + 4     layers.l.attn_ln  after the attention LayerNorm: the attention block's output
//                                                                              (...attention.output, = ...attention)
//           + 5     layers.l.mlp_in   first MLP linear, BEFORE GELU          (...intermediate.dense)
//           + 6     layers.l.mlp_out  second MLP linear, before the residual  (...output.dense)
//           + 7     layers.l          layer output, after the output LayerNorm (bert.encoder.layer.l)
//   masked LM:       mlm.transform    head dense, before GELU                  (cls.predictions.transform.dense)
//                    mlm.ln           head LayerNorm output                     (cls.predictions.transform)
//   classification:  pooler           pooler dense on CLS, before tanh          (bert.pooler.dense)
//                    classifier       logits                                    (classifier)
//
// Token outputs are padded sequences: the store keeps each sample's real tokens only.
// The decoder's vocabulary-wide logits are not a capture point: the last linear layer
// of a fusion needs no output map, and they would dwarf everything else.
#pragma once

#include <vector>

#include "../activations/capture_point.h"
#include "../activations/layer_resume.h"
#include "bert_config.h"

namespace tf {

constexpr size_t kBertPointsPerLayer = 8;
enum BertLayerPoint : size_t {
  kBertQuery = 0, kBertKey, kBertValue, kBertAttnOut, kBertAttnLn, kBertMlpIn, kBertMlpOut, kBertLayerOut
};

inline size_t bert_point_embed() { return 0; }
inline size_t bert_point_layer(int64_t layer, BertLayerPoint p) {
  return 1 + size_t(layer) * kBertPointsPerLayer + p;
}
// The first head point (mlm.transform or pooler); the second follows it.
inline size_t bert_point_head(const BertConfig& c) { return 1 + size_t(c.num_layers) * kBertPointsPerLayer; }

std::vector<CapturePoint> bert_capture_points(const BertConfig& config);

// The layers' points and their linear groups, for re-entering a layer (layer_resume.h).
LayerPoints bert_layer_points(const BertConfig& config);

}  // namespace tf
