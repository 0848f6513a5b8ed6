// Re-entering an encoder layer in a staged pass (statistics repair, VitModel /
// BertModel::capture_staged). Repair measures a layer's linear groups in forward order
// (Q/K/V, attention output, MLP input, MLP output) and rescales each before it measures
// the next. Recomputing the layer from its input for every group cost about four layer
// passes per layer. Instead, the pass that measured a group keeps the group's outputs;
// rescaling the group's neurons (W' = a W, b' = a b + c) maps those outputs to the
// rescaled model's by the same per-neuron affine map, y' = a y + c, and the next pass
// re-enters the layer right after the group: about one pass per layer in all.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>

#include "../backend.h"

namespace tf {

// The linear groups of an encoder layer, in forward order.
enum class LayerGroup : int { None = -1, Qkv = 0, AttnOut = 1, MlpIn = 2, MlpOut = 3 };

// Where a layer point's values sit in a group's outputs: the group (None: the point is
// not a linear group's output) and their first column there.
struct GroupColumns {
  LayerGroup group = LayerGroup::None;
  int64_t offset = 0;
};

// How a model's capture points sit in its encoder layers: layer l's are points
// first + l * per_layer + local, local = 0 .. per_layer - 1 (vit_capture.h, bert_capture.h).
struct LayerPoints {
  size_t first = 0, per_layer = 0;
  int64_t num_layers = 0;
  // The last group computed before point `local` (None: the layer's start).
  std::function<LayerGroup(size_t local)> group_before;
  // The group whose outputs point `local`'s values are.
  std::function<GroupColumns(size_t local)> group_columns;
  int64_t hidden = 0, intermediate = 0;

  // The layer of a point, -1 outside the layers.
  int64_t layer_of(size_t point) const {
    if (point < first || point >= first + size_t(num_layers) * per_layer) return -1;
    return int64_t((point - first) / per_layer);
  }
  // The stage that computes a point: -1 before the layers (the embeddings), num_layers
  // after them (final LayerNorm, heads).
  int64_t stage_of(size_t point) const {
    return point < first ? -1 : point >= first + size_t(num_layers) * per_layer ? num_layers : layer_of(point);
  }
  // The point a stage hands to the next: the embeddings' output (the point right before
  // the first layer's) for stage -1, else the layer's output (its last point).
  size_t stage_output(int64_t stage) const { return first - 1 + size_t(stage + 1) * per_layer; }
  size_t local(size_t point) const { return (point - first) % per_layer; }
  int64_t group_width(LayerGroup g) const {
    return g == LayerGroup::Qkv ? 3 * hidden : g == LayerGroup::MlpIn ? intermediate : g == LayerGroup::None ? 0 : hidden;
  }
  int64_t widest_group() const { return std::max(3 * hidden, intermediate); }
};

// One chunk's part of a staged pass that re-enters or keeps a group (backend memory).
struct LayerResume {
  // Re-enter the pass's first layer right after this group, whose outputs (for the rescaled
  // parameters) are in `group` and, from MlpIn on, the MLP's residual input in `residual`.
  LayerGroup enter = LayerGroup::None;
  // A pass that stops right after a group of its first layer copies the group's outputs
  // into `group` (and the residual into `residual`) and sets `kept`.
  bool keep = false;
  LayerGroup kept = LayerGroup::None;
  // rows x width: Q|K|V side by side (3 x hidden), the MLP input (intermediate size), or
  // hidden for the others.
  float* group = nullptr;
  // rows x hidden: what the MLP's output is added to (ViT: the stream after attention;
  // BERT: the attention block's LayerNorm output).
  float* residual = nullptr;
  // At least max(3 x hidden, intermediate) zeros: the bias of the ops that re-enter, so
  // that they are the very ops the plain pass runs (bit-identical without a rescale).
  const float* zeros = nullptr;

  // A pass stopping right after group g (rows x width outputs at `out`; `mlp_residual`,
  // rows x hidden, from MlpIn on) keeps them when asked to.
  void keep_group(Backend& be, LayerGroup g, const float* out, int64_t rows, int64_t width,
                  const float* mlp_residual = nullptr, int64_t hidden = 0) {
    if (!keep) return;
    be.gather_rows(group, out, rows, width, width);
    if (mlp_residual) be.gather_rows(residual, mlp_residual, rows, hidden, hidden);
    kept = g;
  }
};

}  // namespace tf
