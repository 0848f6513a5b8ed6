#include "bert_backward.h"

#include <algorithm>
#include <functional>
#include <vector>

#include "../error.h"
#include "../linear_backward.h"

namespace tf {

BertGradBuffers::BertGradBuffers(Backend& be, const BertConfig& c, int64_t batch, int64_t tokens, int64_t head_rows)
    : batch_(batch), tokens_(tokens), head_rows_(c.masked_lm() ? head_rows : 0) {
  const int64_t B = batch, R = batch * tokens, C = c.hidden_size, I = c.intermediate_size;
  const int64_t H = head_rows_, V = c.vocab_size, Bc = c.masked_lm() ? 0 : B, L = c.num_labels;
  DeviceArena arena;
  for (float** t : {&dx, &dres, &dln}) arena.want(t, R * C);
  arena.want(&dqkv, R * 3 * C);
  arena.want(&dmlp, R * I);
  arena.want(&dlogits, H * V);
  for (float** t : {&dhead_ln, &dhead_act, &dhead_rows}) arena.want(t, H * C);
  arena.want(&dclass_logits, Bc * L);
  for (float** t : {&dpooled, &dcls}) arena.want(t, Bc * C);
  memory_ = arena.allocate(be);
}

void bert_mlm_head_backward(Backend& be, const BertConfig& c, const BertParamLayout& L, const float* params,
                            float* grads, BertBuffers& buf, BertGradBuffers& g, const int32_t* gather, int64_t rows,
                            int64_t hidden_rows) {
  TF_CHECK(c.masked_lm(), "bert backward: the masked-LM head of a classification model");
  TF_CHECK(rows <= g.head_rows(), "bert backward: more labelled rows than the head's buffers");
  const int64_t C = c.hidden_size, V = c.vocab_size;
  auto W = [&](int64_t offset) { return params + offset; };
  auto G = [&](int64_t offset) { return grads + offset; };
  be.zero(g.dx, hidden_rows * C);
  if (rows == 0) return;
  // Decoder: logits = head_ln · decoderᵀ + bias (decoder = the word embeddings when tied).
  be.bias_backward(G(L.decoder_b), g.dlogits, rows, V);
  linear_backward(be, g.dhead_ln, G(L.decoder_w), g.dlogits, buf.head_ln, W(L.decoder_w), rows, C, V);
  // LayerNorm on the GELU output, GELU, the transform dense on the gathered rows.
  be.zero(g.dhead_act, rows * C);
  be.layernorm_backward(g.dhead_act, G(L.mlm_ln_w), G(L.mlm_ln_b), g.dhead_ln, buf.head_act, buf.head_mean,
                        buf.head_rstd, W(L.mlm_ln_w), rows, C);
  be.gelu_backward(g.dhead_act, buf.head_pre, g.dhead_act, rows * C);
  be.bias_backward(G(L.mlm_dense_b), g.dhead_act, rows, C);
  linear_backward(be, g.dhead_rows, G(L.mlm_dense_w), g.dhead_act, buf.head_rows, W(L.mlm_dense_w), rows, C, C);
  // The gather's backward.
  be.scatter_add_rows_indexed(g.dx, g.dhead_rows, gather, rows, C);
}

void bert_classifier_head_backward(Backend& be, const BertConfig& c, const BertParamLayout& L, const float* params,
                                   float* grads, BertBuffers& buf, BertGradBuffers& g, const float* hidden,
                                   const BertBatch& in) {
  TF_CHECK(!c.masked_lm(), "bert backward: the classification head of a masked-LM model");
  const int64_t B = in.batch, T = in.tokens, C = c.hidden_size, NL = c.num_labels;
  auto W = [&](int64_t offset) { return params + offset; };
  auto G = [&](int64_t offset) { return grads + offset; };
  // The forward gathered the [CLS] rows into cls_in (by stride, or a packed batch's first
  // rows) unless hidden held them alone.
  const float* cls = T > 1 || in.packed() ? buf.cls_in : hidden;
  be.bias_backward(G(L.classifier_b), g.dclass_logits, B, NL);
  linear_backward(be, g.dpooled, G(L.classifier_w), g.dclass_logits, buf.pooled, W(L.classifier_w), B, C, NL);
  be.tanh_backward(g.dpooled, buf.pooled, g.dpooled, B * C);
  be.bias_backward(G(L.pooler_b), g.dpooled, B, C);
  linear_backward(be, g.dcls, G(L.pooler_w), g.dpooled, cls, W(L.pooler_w), B, C, C);
  be.zero(g.dx, in.rows() * C);
  if (in.packed()) be.scatter_add_rows_indexed(g.dx, g.dcls, in.device_starts, B, C);
  else be.scatter_add_rows(g.dx, g.dcls, B, C, T * C);
}

void bert_encoder_backward(Backend& be, const BertConfig& c, const BertParamLayout& L, const float* params,
                           float* grads, BertBuffers& buf, BertGradBuffers& g, const BertBatch& in,
                           const TaskContext* ctx) {
  TF_CHECK(g.fits(in.batch, in.tokens) && buf.fits(in.batch, in.tokens), "bert backward: batch larger than the buffers");
  const int64_t B = in.batch, T = in.tokens, C = c.hidden_size, I = c.intermediate_size, R = in.rows();
  // Attention undone sample by sample in a packed batch, as the forward ran it (its
  // probabilities one sample after another, each n x n per head).
  auto attention_backward = [&](BertLayerBuffers& lb) {
    if (!in.packed()) {
      be.attention_backward(g.dqkv, g.dln, lb.qkv, lb.att, B, T, C, c.num_heads);
      return;
    }
    int64_t att_offset = 0;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t s = in.starts[b], n = in.starts[b + 1] - s;
      be.attention_backward(g.dqkv + s * 3 * C, g.dln + s * C, lb.qkv + s * 3 * C, lb.att + att_offset, 1, n, C,
                            c.num_heads);
      att_offset += c.num_heads * n * n;
    }
  };
  auto W = [&](int64_t offset) { return params + offset; };
  auto G = [&](int64_t offset) { return grads + offset; };

  for (int64_t l = c.num_layers - 1; l >= 0; --l) {
    if (ctx) ctx->check_cancelled();
    const BertLayerOffsets& o = L.layers[size_t(l)];
    BertLayerBuffers& lb = buf.layer(l);
    TF_CHECK(l == 0 || &buf.layer(l - 1) != &lb, "bert backward: the forward pass did not keep every layer");
    const float* x_in = l == 0 ? buf.embed : buf.layer(l - 1).out;
    // g.dx = dL/d out; out = LN(out_res), out_res = attn_ln + mlp_out.
    be.zero(g.dres, R * C);
    be.layernorm_backward(g.dres, G(o.out_ln_w), G(o.out_ln_b), g.dx, lb.out_res, lb.out_mean, lb.out_rstd,
                          W(o.out_ln_w), R, C);
    // mlp_out = gelu(mlp_pre) · W2ᵀ + b2, mlp_pre = attn_ln · W1ᵀ + b1.
    be.bias_backward(G(o.mlp_out_b), g.dres, R, C);
    linear_backward(be, g.dmlp, G(o.mlp_out_w), g.dres, lb.mlp_act, W(o.mlp_out_w), R, I, C);
    be.gelu_backward(g.dmlp, lb.mlp_pre, g.dmlp, R * I);
    be.bias_backward(G(o.mlp_in_b), g.dmlp, R, I);
    // d attn_ln = the residual's d out_res (already in g.dres) + the MLP's.
    linear_backward(be, g.dres, G(o.mlp_in_w), g.dmlp, lb.attn_ln, W(o.mlp_in_w), R, C, I, 1.0f);
    // attn_ln = LN(attn_res), attn_res = x_in + atty · Woᵀ + bo.
    be.zero(g.dx, R * C);
    be.layernorm_backward(g.dx, G(o.attn_ln_w), G(o.attn_ln_b), g.dres, lb.attn_res, lb.attn_mean, lb.attn_rstd,
                          W(o.attn_ln_w), R, C);
    be.bias_backward(G(o.attn_out_b), g.dx, R, C);
    linear_backward(be, g.dln, G(o.attn_out_w), g.dx, lb.atty, W(o.attn_out_w), R, C, C);
    attention_backward(lb);
    be.bias_backward(G(o.qkv_b), g.dqkv, R, 3 * C);
    // d x_in = the residual's d attn_res (in g.dx) + the projections'.
    linear_backward(be, g.dx, G(o.qkv_w), g.dqkv, x_in, W(o.qkv_w), R, C, 3 * C, 1.0f);
  }
  if (ctx) ctx->check_cancelled();
  // Embeddings: LayerNorm of the word + position + type sum.
  be.zero(g.dres, R * C);
  be.layernorm_backward(g.dres, G(L.embed_ln_w), G(L.embed_ln_b), g.dx, buf.embed_sum, buf.embed_mean, buf.embed_rstd,
                        W(L.embed_ln_w), R, C);
  if (!in.packed()) {
    be.token_embeddings_backward(G(L.word), G(L.position), G(L.token_type), g.dres, in.ids, in.type_ids, B, T, C);
    return;
  }
  // Packed: each sample's positions start at 0 again.
  for (int64_t b = 0; b < B; ++b) {
    const int64_t s = in.starts[b];
    be.token_embeddings_backward(G(L.word), G(L.position), G(L.token_type), g.dres + s * C, in.ids + s,
                                 in.type_ids ? in.type_ids + s : nullptr, 1, in.starts[b + 1] - s, C);
  }
}

}  // namespace tf
