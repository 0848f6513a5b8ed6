// The forward pass of Hugging Face's ViTForImageClassification (pre-LN encoder, exact
// GELU, softmax(Q Kᵀ / sqrt d), classifier on the final LayerNorm of CLS), as a sequence
// of backend ops over VitBuffers.
#pragma once

#include <cstdint>

#include "../activations/capture_point.h"
#include "../activations/layer_resume.h"
#include "../backend.h"
#include "../task.h"
#include "vit_buffers.h"
#include "vit_config.h"
#include "vit_params.h"

namespace tf {

// Runs `batch` images (batch x C x H x W, normalised, in backend memory) through the
// model whose parameters start at `params` (backend memory, layout `layout`); logits end
// up in buffers.logits. With a sink, every point of vit_capture_points() is handed to
// it as soon as it is computed (and the final LayerNorm runs on all tokens instead of
// CLS alone). ctx, when given, is checked for cancellation between layers.
//
// A training pass (`training`, no sink) keeps what vit_backward reads: the buffers must
// keep every layer, every layer runs on all tokens (no CLS-only last layer), and the
// final LayerNorm runs on the CLS rows gathered into buffers.cls_in, its output and
// statistics in final_ln / final_mean / final_rstd (batch rows).
//
// `last_point` >= 0 (a capture that needs nothing later, e.g. statistics repair measuring
// one layer) stops right after computing that capture point, inside its layer: nothing
// later, no final LayerNorm, no logits. Returns whether the pass ran to the logits.
//
// `start_layer` >= 0 (a staged pass, with a sink) skips the embeddings and starts at that
// encoder layer (num_layers: at the final LayerNorm) from the residual stream the caller
// put in buffers.embed (batch x tokens x hidden); `images` is then not read. With
// `resume` (layer_resume.h), that layer is re-entered after a group kept by an earlier
// pass, and a pass that stops right after a group of that layer keeps it.
bool vit_forward(Backend& be, const VitConfig& config, const VitParamLayout& layout, const float* params,
                 VitBuffers& buffers, const float* images, int64_t batch, ActivationSink* sink,
                 const TaskContext* ctx, bool training = false, int64_t last_point = -1,
                 int64_t start_layer = -1, LayerResume* resume = nullptr);

}  // namespace tf
