// The backward pass of BertForMaskedLM / BertForSequenceClassification, each piece next
// to the forward piece it undoes (bert_forward.h): from the loss gradient of the head's
// logits back to the gradient of every parameter, through the buffers a training forward
// pass (BertBuffers keeping every layer) left behind.
//
// Reused encoder kernels: layernorm_backward, attention_backward (the masked forward
// leaves exact zeros in the probabilities of padded keys, so the same backward holds),
// gelu_backward, bias_backward, GEMMs; BERT's own: token_embeddings_backward,
// tanh_backward, scatter_add_rows_indexed.
#pragma once

#include <cstdint>
#include <memory>

#include "../backend.h"
#include "../task.h"
#include "bert_buffers.h"
#include "bert_config.h"
#include "bert_forward.h"
#include "bert_params.h"

namespace tf {

// Activation gradients for `batch` sequences of `tokens` tokens, reused layer after
// layer (one allocation, like BertBuffers). The masked-LM head's buffers hold up to
// head_rows rows (the labelled tokens of a micro-batch).
class BertGradBuffers {
 public:
  BertGradBuffers(Backend& be, const BertConfig& config, int64_t batch, int64_t tokens, int64_t head_rows);

  bool fits(int64_t batch, int64_t tokens) const { return batch <= batch_ && tokens <= tokens_; }
  int64_t head_rows() const { return head_rows_; }

  float* dx;         // (B, T, C) gradient of the residual stream at the current layer boundary
  float* dres;       // (B, T, C) gradient of a LayerNorm input (a residual sum)
  float* dln;        // (B, T, C) gradient of the heads' output (atty)
  float* dqkv;       // (B, T, 3C)
  float* dmlp;       // (B, T, I)
  // Masked LM head, head_rows rows.
  float* dlogits;    // (rows, vocab): the caller fills it (cross_entropy_backward)
  float* dhead_ln;   // (rows, C)
  float* dhead_act;  // (rows, C), then in place the gradient of the transform's pre-activation
  float* dhead_rows; // (rows, C) gradient of the gathered hidden rows
  // Classification head, B rows.
  float* dclass_logits;  // (B, labels): the caller fills it
  float* dpooled;        // (B, C), then in place the gradient of the pooler's pre-activation
  float* dcls;           // (B, C)

 private:
  int64_t batch_, tokens_, head_rows_;
  std::unique_ptr<DeviceBuffer> memory_;
};

// Masked-LM head backward for `rows` labelled rows gathered from `hidden` by `gather`
// (backend memory, as bert_mlm_transform_forward took them), the decoder's input being
// buffers.head_ln. grad.dlogits must hold dL/dlogits. Adds the head's parameter gradients
// (the tied decoder's into the word embeddings) and overwrites grad.dx (batch x tokens
// rows of hidden) with dL/dhidden: zero except on the gathered rows.
void bert_mlm_head_backward(Backend& be, const BertConfig& config, const BertParamLayout& layout, const float* params,
                            float* grads, BertBuffers& buffers, BertGradBuffers& grad, const int32_t* gather,
                            int64_t rows, int64_t hidden_rows);

// Classification head backward: grad.dclass_logits holds dL/dlogits for `batch`; adds
// the pooler's and classifier's gradients and overwrites grad.dx (batch.rows() rows) with
// dL/dhidden, non-zero on the [CLS] rows only. `hidden` is what the head read.
void bert_classifier_head_backward(Backend& be, const BertConfig& config, const BertParamLayout& layout,
                                   const float* params, float* grads, BertBuffers& buffers, BertGradBuffers& grad,
                                   const float* hidden, const BertBatch& batch);

// Encoder backward from grad.dx = dL/d(last layer output) down to the embedding tables.
// `batch` must be the batch (padded or packed) of the training forward pass that filled
// `buffers` (every layer kept, cls_only off).
void bert_encoder_backward(Backend& be, const BertConfig& config, const BertParamLayout& layout, const float* params,
                           float* grads, BertBuffers& buffers, BertGradBuffers& grad, const BertBatch& batch,
                           const TaskContext* ctx);

}  // namespace tf
