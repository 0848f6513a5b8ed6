#include "bert_buffers.h"

namespace tf {

BertBuffers::BertBuffers(Backend& be, const BertConfig& c, int64_t batch, int64_t tokens, int64_t layers_kept)
    : batch_(batch), tokens_(tokens) {
  const int64_t B = batch, T = tokens, R = B * T, C = c.hidden_size, I = c.intermediate_size, NH = c.num_heads;
  const int64_t L = c.masked_lm() ? 0 : c.num_labels;
  DeviceArena arena;  // integer and byte buffers take float-sized slots
  auto want = [&](auto** p, int64_t n) { arena.want(p, n); };
  want(&embed_sum, R * C);
  want(&embed, R * C);
  want(&embed_mean, R);
  want(&embed_rstd, R);
  const int64_t head_rows_n = c.masked_lm() ? R : 0;
  want(&head_rows, head_rows_n * C);
  want(&head_pre, head_rows_n * C);
  want(&head_act, head_rows_n * C);
  want(&head_ln, head_rows_n * C);
  want(&head_mean, head_rows_n);
  want(&head_rstd, head_rows_n);
  const int64_t cls_rows = c.masked_lm() ? 0 : B;
  want(&cls_in, cls_rows * C);
  want(&pooler_pre, cls_rows * C);
  want(&pooled, cls_rows * C);
  want(&class_logits, cls_rows * L);
  want(&ids, R);
  want(&type_ids, R);
  want(&labels, R);
  want(&row_index, R);
  want(&predictions, R);
  want(&sample_starts, B + 1);
  want(&losses, R);
  want(&mask, (R + 3) / 4);
  layers_.resize(size_t(std::max<int64_t>(1, std::min(layers_kept, c.num_layers))));
  for (auto& Lb : layers_) {
    want(&Lb.qkv, R * 3 * C);
    want(&Lb.att, B * NH * T * T);
    want(&Lb.atty, R * C);
    want(&Lb.attn_out, R * C);
    want(&Lb.attn_res, R * C);
    want(&Lb.attn_ln, R * C);
    want(&Lb.attn_mean, R);
    want(&Lb.attn_rstd, R);
    want(&Lb.mlp_pre, R * I);
    want(&Lb.mlp_act, R * I);
    want(&Lb.mlp_out, R * C);
    want(&Lb.out_res, R * C);
    want(&Lb.out, R * C);
    want(&Lb.out_mean, R);
    want(&Lb.out_rstd, R);
  }
  memory_ = arena.allocate(be);
}

}  // namespace tf
