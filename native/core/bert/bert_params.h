// Where each BERT parameter lives in the model's one contiguous float buffer. As for the
// ViT (vit_params.h, whose ParamTensor this reuses), training will allocate gradients
// and AdamW moments with this same layout.
//
// Names are the core's own ("layers.3.query.weight"); shapes are Hugging Face's, so the
// adapter (lib/models/bert.ts) maps HF tensors onto them one to one. Q, K and V weights
// sit next to each other (one 3C x C matrix for a single QKV GEMM), and so do their
// biases. The tied masked-LM decoder has no tensor of its own: it reads embed.word.
#pragma once

#include <cstdint>
#include <vector>

#include "../vit/vit_params.h"
#include "bert_config.h"

namespace tf {

struct BertLayerOffsets {
  int64_t qkv_w, qkv_b;
  int64_t attn_out_w, attn_out_b;
  int64_t attn_ln_w, attn_ln_b;
  int64_t mlp_in_w, mlp_in_b;
  int64_t mlp_out_w, mlp_out_b;
  int64_t out_ln_w, out_ln_b;
};

class BertParamLayout {
 public:
  explicit BertParamLayout(const BertConfig& config);

  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  int64_t total() const { return total_; }

  int64_t word = 0, position = 0, token_type = 0, embed_ln_w = 0, embed_ln_b = 0;
  std::vector<BertLayerOffsets> layers;
  // Masked LM head (-1 under the classification head). decoder_w is `word` when tied.
  int64_t mlm_dense_w = -1, mlm_dense_b = -1, mlm_ln_w = -1, mlm_ln_b = -1, decoder_w = -1, decoder_b = -1;
  // Classification head (-1 under the masked LM head).
  int64_t pooler_w = -1, pooler_b = -1, classifier_w = -1, classifier_b = -1;

 private:
  int64_t add(const std::string& name, std::vector<int64_t> shape);

  std::vector<ParamTensor> tensors_;
  int64_t total_ = 0;
};

}  // namespace tf
