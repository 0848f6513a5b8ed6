#include "bert_params.h"

namespace tf {

int64_t BertParamLayout::add(const std::string& name, std::vector<int64_t> shape) {
  int64_t size = 1;
  for (int64_t d : shape) size *= d;
  tensors_.push_back({name, std::move(shape), total_, size});
  const int64_t offset = total_;
  total_ += size;
  return offset;
}

BertParamLayout::BertParamLayout(const BertConfig& c) {
  c.validate();
  const int64_t C = c.hidden_size, I = c.intermediate_size;
  word = add("embed.word", {c.vocab_size, C});
  position = add("embed.position", {c.max_positions, C});
  token_type = add("embed.token_type", {c.type_vocab_size, C});
  embed_ln_w = add("embed.ln.weight", {C});
  embed_ln_b = add("embed.ln.bias", {C});
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    BertLayerOffsets o{};
    o.qkv_w = add(p + "query.weight", {C, C});
    add(p + "key.weight", {C, C});
    add(p + "value.weight", {C, C});
    o.qkv_b = add(p + "query.bias", {C});
    add(p + "key.bias", {C});
    add(p + "value.bias", {C});
    o.attn_out_w = add(p + "attn_out.weight", {C, C});
    o.attn_out_b = add(p + "attn_out.bias", {C});
    o.attn_ln_w = add(p + "attn_ln.weight", {C});
    o.attn_ln_b = add(p + "attn_ln.bias", {C});
    o.mlp_in_w = add(p + "mlp_in.weight", {I, C});
    o.mlp_in_b = add(p + "mlp_in.bias", {I});
    o.mlp_out_w = add(p + "mlp_out.weight", {C, I});
    o.mlp_out_b = add(p + "mlp_out.bias", {C});
    o.out_ln_w = add(p + "out_ln.weight", {C});
    o.out_ln_b = add(p + "out_ln.bias", {C});
    layers.push_back(o);
  }
  if (c.masked_lm()) {
    mlm_dense_w = add("mlm.transform.weight", {C, C});
    mlm_dense_b = add("mlm.transform.bias", {C});
    mlm_ln_w = add("mlm.ln.weight", {C});
    mlm_ln_b = add("mlm.ln.bias", {C});
    decoder_w = c.tied_decoder ? word : add("mlm.decoder.weight", {c.vocab_size, C});
    decoder_b = add("mlm.decoder.bias", {c.vocab_size});
  } else {
    pooler_w = add("pooler.weight", {C, C});
    pooler_b = add("pooler.bias", {C});
    classifier_w = add("classifier.weight", {c.num_labels, C});
    classifier_b = add("classifier.bias", {c.num_labels});
  }
}

}  // namespace tf
