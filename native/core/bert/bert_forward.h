// The forward pass of Hugging Face's BertForMaskedLM / BertForSequenceClassification as
// a sequence of backend ops over BertBuffers: embeddings (word + position + token type,
// LayerNorm), post-LN encoder layers (attention -> dense -> residual -> LayerNorm; dense
// -> GELU -> dense -> residual -> LayerNorm) with padded keys masked out, and the heads.
#pragma once

#include <cstdint>

#include "../activations/capture_point.h"
#include "../activations/layer_resume.h"
#include "../backend.h"
#include "../task.h"
#include "bert_buffers.h"
#include "bert_config.h"
#include "bert_params.h"

namespace tf {

// One batch of token sequences: `batch` samples of `tokens` tokens, row-major.
//
// Packed instead (starts not null): the rows are the samples' real tokens back to back,
// sample b's from starts[b] to starts[b + 1] (positions 0, 1, ... as in a right-padded
// sequence), and `tokens` is the longest. Every row-wise op then skips the padding;
// embeddings and attention run sample by sample. No mask and no capture go with it.
struct BertBatch {
  const int32_t* ids = nullptr;       // backend memory
  const int32_t* type_ids = nullptr;  // backend memory; null: token type 0 everywhere
  const uint8_t* mask = nullptr;      // backend memory, non-zero = real token; null: no padding
  const uint8_t* host_mask = nullptr; // the same mask in host memory (for the activation sink)
  int64_t batch = 0;
  int64_t tokens = 0;
  const int64_t* starts = nullptr;      // host memory, batch + 1 entries: a packed batch
  const int32_t* device_starts = nullptr;  // the same first rows (batch entries) in backend memory

  bool packed() const { return starts != nullptr; }
  // Rows of every per-token buffer: batch x tokens, or the real tokens of a packed batch.
  int64_t rows() const { return starts ? starts[batch] : batch * tokens; }
  // The row that holds token r = (b, t) of the batch as given (b * tokens + t): r itself,
  // or its packed row, -1 for padding that packing left out.
  int64_t row_of(int64_t r) const {
    if (!starts) return r;
    const int64_t b = r / tokens, t = r % tokens;
    return t < starts[b + 1] - starts[b] ? starts[b] + t : -1;
  }
};

// Embeddings and encoder. Returns the last layer's output, batch.rows() x hidden in
// `buffers`. With a sink, the embeddings and every layer point of bert_capture_points()
// are handed over as computed (after sink->token_mask). ctx, when given, is checked for
// cancellation between layers.
//
// With cls_only (a classifier's inference, no sink), only [CLS] reaches the head, so the
// last layer computes keys and values for every token and everything after them for
// [CLS] alone; the result is then batch x hidden, the [CLS] rows.
//
// With a sink and `last_point` >= 0 before the head's points (a capture that needs
// nothing later, e.g. statistics repair measuring one layer), the pass stops right after
// computing last_point, inside its layer, and returns null: there is no final hidden state.
//
// `start_layer` >= 0 (a staged pass, with a sink) skips the embeddings and starts at that
// layer (num_layers: none, the result is the stream itself) from the residual stream the
// caller put in buffers.embed (batch.rows() x hidden); the batch's ids are then not read.
// With `resume` (layer_resume.h), that layer is re-entered after a group kept by an
// earlier pass, and a pass that stops right after a group of that layer keeps it.
const float* bert_encoder_forward(Backend& be, const BertConfig& config, const BertParamLayout& layout,
                                  const float* params, BertBuffers& buffers, const BertBatch& batch,
                                  ActivationSink* sink, const TaskContext* ctx, bool cls_only = false,
                                  int64_t last_point = -1, int64_t start_layer = -1, LayerResume* resume = nullptr);

// Masked-LM head, first half: transform dense -> GELU -> LayerNorm on `rows` rows of
// hidden states (rows x hidden, packed) into buffers.head_ln. `gather`, when not null,
// lists the rows of `hidden` to transform (backend memory) and `rows` counts them. With
// a sink, rows must be every token of a `batch`-sample batch in order, and the head's two
// points are captured.
void bert_mlm_transform_forward(Backend& be, const BertConfig& config, const BertParamLayout& layout,
                                const float* params, BertBuffers& buffers, const float* hidden, const int32_t* gather,
                                int64_t rows, ActivationSink* sink, int64_t batch);

// Masked-LM head, second half: logits (rows x vocab) = x · decoderᵀ + bias, x being rows
// of transformed states (rows x hidden, packed). The tied decoder is the word embeddings.
void bert_mlm_decoder_forward(Backend& be, const BertConfig& config, const BertParamLayout& layout, const float* params,
                              const float* x, int64_t rows, float* logits);

// Classification head: pooler dense + tanh on each sample's first ([CLS]) token of
// hidden (batch x tokens x hidden; tokens = 1 when hidden holds the [CLS] rows alone),
// then the classifier, into buffers.class_logits. `cls_rows` (backend memory, batch
// entries), when given, says where each sample's [CLS] row is instead: a packed batch.
void bert_classifier_head_forward(Backend& be, const BertConfig& config, const BertParamLayout& layout,
                                  const float* params, BertBuffers& buffers, const float* hidden, int64_t batch,
                                  int64_t tokens, ActivationSink* sink, const int32_t* cls_rows = nullptr);

}  // namespace tf
