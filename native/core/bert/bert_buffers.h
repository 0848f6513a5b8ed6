// The BERT forward pass's working memory, sized for `batch` sequences of `tokens`
// tokens: one allocation cut into named buffers (as VitBuffers). Per-layer buffers
// exist `layers_kept` times: inference keeps one set and reuses it layer after layer;
// training will keep every layer for backward. The heads' buffers are sized for every
// token row; the masked-LM logits live apart (BertModel sizes them for the rows it
// decodes, which may be far fewer than all tokens).
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "../backend.h"
#include "bert_config.h"

namespace tf {

struct BertLayerBuffers {
  float* qkv;         // (B, T, 3C)
  float* att;         // (B, NH, T, T) softmax probabilities
  float* atty;        // (B, T, C) heads' outputs, before the output projection
  float* attn_out;    // (B, T, C) output projection incl. bias
  float* attn_res;    // (B, T, C) layer input + attn_out (before the LayerNorm)
  float* attn_ln;     // (B, T, C) attention block output (after the LayerNorm)
  float* attn_mean;   // (B, T)
  float* attn_rstd;   // (B, T)
  float* mlp_pre;     // (B, T, I) first MLP linear, before GELU
  float* mlp_act;     // (B, T, I) after GELU
  float* mlp_out;     // (B, T, C) second MLP linear incl. bias
  float* out_res;     // (B, T, C) attn_ln + mlp_out (before the LayerNorm)
  float* out;         // (B, T, C) layer output
  float* out_mean;    // (B, T)
  float* out_rstd;    // (B, T)
};

class BertBuffers {
 public:
  BertBuffers(Backend& be, const BertConfig& config, int64_t batch, int64_t tokens, int64_t layers_kept);

  int64_t batch() const { return batch_; }
  int64_t tokens() const { return tokens_; }
  // Whether these buffers can run `batch` sequences of `tokens` tokens (a smaller batch
  // of shorter sequences packs into the front of every buffer).
  bool fits(int64_t batch, int64_t tokens) const { return batch <= batch_ && tokens <= tokens_; }
  BertLayerBuffers& layer(int64_t l) { return layers_[size_t(l) % layers_.size()]; }

  float* embed_sum;    // (B, T, C) word + position + type, before the LayerNorm
  float* embed;        // (B, T, C) embeddings output
  float* embed_mean;   // (B, T)
  float* embed_rstd;   // (B, T)
  // Masked LM head, over up to B * T rows.
  float* head_rows;    // rows of the last layer gathered for the head (labelled tokens)
  float* head_pre;     // transform dense, before GELU
  float* head_act;     // after GELU
  float* head_ln;      // after the LayerNorm: the decoder's input
  float* head_mean;
  float* head_rstd;
  // Classification head, B rows.
  float* cls_in;       // (B, C) the last layer's CLS rows
  float* pooler_pre;   // (B, C) pooler dense, before tanh
  float* pooled;       // (B, C)
  float* class_logits; // (B, labels)
  // Integer inputs on the backend: ids, type ids, labels / row index (B * T each) and
  // the mask as bytes.
  int32_t* ids;
  int32_t* type_ids;
  int32_t* labels;
  int32_t* row_index;
  int32_t* predictions;
  int32_t* sample_starts;  // (B + 1) first row of each sample in a packed batch
  float* losses;       // (B * T)
  uint8_t* mask;       // (B * T)

 private:
  int64_t batch_, tokens_;
  std::unique_ptr<DeviceBuffer> memory_;
  std::vector<BertLayerBuffers> layers_;
};

}  // namespace tf
