#include "bert_forward.h"

#include <algorithm>

#include "../error.h"
#include "bert_capture.h"

namespace tf {

namespace {

// y (rows x out) = x (rows x in) · Wᵀ, W stored (out x in) as torch.nn.Linear keeps it.
void linear(Backend& be, float* y, const float* x, const float* w, int64_t rows, int64_t in, int64_t out) {
  be.gemm(false, true, rows, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
}

}  // namespace

const float* bert_encoder_forward(Backend& be, const BertConfig& c, const BertParamLayout& L, const float* params,
                                  BertBuffers& buf, const BertBatch& in, ActivationSink* sink, const TaskContext* ctx,
                                  bool cls_only, int64_t last_point, int64_t start_layer, LayerResume* resume) {
  const int64_t B = in.batch, T = in.tokens, C = c.hidden_size, I = c.intermediate_size;
  TF_CHECK(B >= 1 && buf.fits(B, T), "bert forward: batch larger than the buffers");
  TF_CHECK(T >= 1 && T <= c.max_positions, "bert forward: sequence longer than the position embeddings");
  TF_CHECK(!(cls_only && sink), "bert forward: a capture needs every token of the last layer");
  TF_CHECK(!(in.packed() && in.mask), "bert forward: a packed batch has no padding to mask");
  TF_CHECK(!(in.packed() && sink && !in.host_mask), "bert forward: a packed capture needs the host mask");
  TF_CHECK(start_layer < 0 || (sink && start_layer <= c.num_layers),
           "bert forward: a pass that starts inside the encoder is a capture");
  TF_CHECK(!resume || (start_layer >= 0 && start_layer < c.num_layers), "bert forward: re-entering outside a layer");
  const int64_t R = in.rows();
  auto W = [&](int64_t offset) { return params + offset; };
  // A packed batch's token outputs hold real rows only: the sink is told so.
  if (sink && in.packed()) sink->packed_tokens(in.host_mask, B, T);
  else if (sink) sink->token_mask(in.host_mask, B, T);
  auto capture = [&](size_t point, const float* data, int64_t stride) {
    if (sink) sink->capture(point, data, B, stride);
  };

  // Self-attention over each sample's tokens: masked keys, or, packed, one sample at a
  // time with its own length (the blocked kernel, no padding at all).
  auto attention = [&](BertLayerBuffers& lb, int64_t queries) {
    if (!in.packed()) {
      if (in.mask)
        be.attention_masked_forward(lb.atty, lb.att, lb.qkv, in.mask, B, T, C, c.num_heads, queries);
      else
        be.attention_forward(lb.atty, lb.att, lb.qkv, B, T, C, c.num_heads, queries);
      return;
    }
    int64_t att_offset = 0;
    for (int64_t b = 0; b < B; ++b) {
      const int64_t s = in.starts[b], n = in.starts[b + 1] - s;
      be.attention_forward(lb.atty + s * C, lb.att + att_offset, lb.qkv + s * 3 * C, 1, n, C, c.num_heads,
                           std::min(queries, n));
      att_offset += c.num_heads * n * n;
    }
  };

  if (start_layer < 0) {
    if (in.packed()) {
      for (int64_t b = 0; b < B; ++b) {
        const int64_t s = in.starts[b];
        be.token_embeddings_forward(buf.embed_sum + s * C, in.ids + s, in.type_ids ? in.type_ids + s : nullptr,
                                    W(L.word), W(L.position), W(L.token_type), 1, in.starts[b + 1] - s, C);
      }
    } else {
      be.token_embeddings_forward(buf.embed_sum, in.ids, in.type_ids, W(L.word), W(L.position), W(L.token_type), B,
                                  T, C);
    }
    be.layernorm_forward(buf.embed, buf.embed_mean, buf.embed_rstd, buf.embed_sum, W(L.embed_ln_w), W(L.embed_ln_b),
                         R, C, c.layer_norm_eps);
    capture(bert_point_embed(), buf.embed, C);
  }
  // Stopping early (a capture whose last point lies before the head): right after that
  // point, wherever it is computed.
  const bool stops = sink && last_point >= 0 && size_t(last_point) < bert_point_head(c);
  if (stops && size_t(last_point) <= bert_point_embed()) return nullptr;

  const float* x = buf.embed;
  const int64_t full_layers = cls_only ? c.num_layers - 1 : c.num_layers;
  for (int64_t l = std::max<int64_t>(start_layer, 0); l < full_layers; ++l) {
    if (ctx) ctx->check_cancelled();
    const BertLayerOffsets& o = L.layers[size_t(l)];
    BertLayerBuffers& lb = buf.layer(l);
    auto point = [&](BertLayerPoint p) { return bert_point_layer(l, p); };
    auto stop_after = [&](BertLayerPoint p) { return stops && size_t(last_point) <= point(p); };

    // Re-entering this layer after a kept group (layer_resume.h), or keeping one.
    LayerResume* at = resume && l == start_layer ? resume : nullptr;
    const LayerGroup enter = at ? at->enter : LayerGroup::None;
    auto entered = [&](LayerGroup g) { return int(enter) >= int(g); };
    auto keep = [&](LayerGroup g, const float* out, int64_t width, bool with_residual) {
      if (at) at->keep_group(be, g, out, R, width, with_residual ? lb.attn_ln : nullptr, C);
    };
    auto restore = [&](float* dst, const float* src, int64_t width) { be.gather_rows(dst, src, R, width, width); };

    if (!entered(LayerGroup::Qkv)) {
      linear(be, lb.qkv, x, W(o.qkv_w), R, C, 3 * C);
      be.add_bias(lb.qkv, W(o.qkv_b), R, 3 * C);
      capture(point(kBertQuery), lb.qkv, 3 * C);
      capture(point(kBertKey), lb.qkv + C, 3 * C);
      capture(point(kBertValue), lb.qkv + 2 * C, 3 * C);
      if (stop_after(kBertValue)) {
        keep(LayerGroup::Qkv, lb.qkv, 3 * C, false);
        return nullptr;
      }
    } else if (enter == LayerGroup::Qkv) {
      restore(lb.qkv, resume->group, 3 * C);
    }

    if (!entered(LayerGroup::AttnOut)) {
      attention(lb, T);
      linear(be, lb.attn_out, lb.atty, W(o.attn_out_w), R, C, C);
      be.bias_residual_forward(lb.attn_res, lb.attn_out, W(o.attn_out_b), x, R, C);
      capture(point(kBertAttnOut), lb.attn_out, C);
      if (stop_after(kBertAttnOut)) {
        keep(LayerGroup::AttnOut, lb.attn_out, C, false);
        return nullptr;
      }
    } else if (enter == LayerGroup::AttnOut) {
      restore(lb.attn_out, resume->group, C);
      be.bias_residual_forward(lb.attn_res, lb.attn_out, resume->zeros, x, R, C);
    }

    if (!entered(LayerGroup::MlpIn)) {
      be.layernorm_forward(lb.attn_ln, lb.attn_mean, lb.attn_rstd, lb.attn_res, W(o.attn_ln_w), W(o.attn_ln_b), R,
                           C, c.layer_norm_eps);
      capture(point(kBertAttnLn), lb.attn_ln, C);
      if (stop_after(kBertAttnLn)) return nullptr;

      linear(be, lb.mlp_pre, lb.attn_ln, W(o.mlp_in_w), R, C, I);
      be.bias_gelu_forward(lb.mlp_pre, lb.mlp_act, W(o.mlp_in_b), R, I);
      capture(point(kBertMlpIn), lb.mlp_pre, I);
      if (stop_after(kBertMlpIn)) {
        keep(LayerGroup::MlpIn, lb.mlp_pre, I, true);
        return nullptr;
      }
    } else if (enter == LayerGroup::MlpIn) {
      restore(lb.attn_ln, resume->residual, C);
      restore(lb.mlp_pre, resume->group, I);
      be.bias_gelu_forward(lb.mlp_pre, lb.mlp_act, resume->zeros, R, I);
    }

    if (!entered(LayerGroup::MlpOut)) {
      linear(be, lb.mlp_out, lb.mlp_act, W(o.mlp_out_w), R, I, C);
      be.bias_residual_forward(lb.out_res, lb.mlp_out, W(o.mlp_out_b), lb.attn_ln, R, C);
      capture(point(kBertMlpOut), lb.mlp_out, C);
      if (stop_after(kBertMlpOut)) {
        keep(LayerGroup::MlpOut, lb.mlp_out, C, true);
        return nullptr;
      }
    } else {
      restore(lb.attn_ln, resume->residual, C);
      restore(lb.mlp_out, resume->group, C);
      be.bias_residual_forward(lb.out_res, lb.mlp_out, resume->zeros, lb.attn_ln, R, C);
    }
    be.layernorm_forward(lb.out, lb.out_mean, lb.out_rstd, lb.out_res, W(o.out_ln_w), W(o.out_ln_b), R, C,
                         c.layer_norm_eps);
    capture(point(kBertLayerOut), lb.out, C);
    if (stop_after(kBertLayerOut)) return nullptr;
    x = lb.out;
  }
  TF_CHECK(!stops, "bert forward: the pass started after its last capture point");
  if (ctx) ctx->check_cancelled();
  if (!cls_only) return x;

  // The last layer for [CLS]: B rows instead of B * T after the keys and values.
  const int64_t l = c.num_layers - 1;
  const BertLayerOffsets& o = L.layers[size_t(l)];
  BertLayerBuffers& lb = buf.layer(l);
  linear(be, lb.qkv, x, W(o.qkv_w), R, C, 3 * C);
  be.add_bias(lb.qkv, W(o.qkv_b), R, 3 * C);
  attention(lb, 1);
  // The [CLS] rows of the residual stream and of the heads' output.
  if (in.packed()) {
    be.gather_rows_indexed(buf.cls_in, x, in.device_starts, B, C);
    be.gather_rows_indexed(lb.out_res, lb.atty, in.device_starts, B, C);
  } else {
    be.gather_rows(buf.cls_in, x, B, C, T * C);
    be.gather_rows(lb.out_res, lb.atty, B, C, T * C);
  }
  linear(be, lb.attn_out, lb.out_res, W(o.attn_out_w), B, C, C);
  be.bias_residual_forward(lb.attn_res, lb.attn_out, W(o.attn_out_b), buf.cls_in, B, C);
  be.layernorm_forward(lb.attn_ln, lb.attn_mean, lb.attn_rstd, lb.attn_res, W(o.attn_ln_w), W(o.attn_ln_b), B, C,
                       c.layer_norm_eps);
  linear(be, lb.mlp_pre, lb.attn_ln, W(o.mlp_in_w), B, C, I);
  be.bias_gelu_forward(lb.mlp_pre, lb.mlp_act, W(o.mlp_in_b), B, I);
  linear(be, lb.mlp_out, lb.mlp_act, W(o.mlp_out_w), B, I, C);
  be.bias_residual_forward(lb.out_res, lb.mlp_out, W(o.mlp_out_b), lb.attn_ln, B, C);
  be.layernorm_forward(lb.out, lb.out_mean, lb.out_rstd, lb.out_res, W(o.out_ln_w), W(o.out_ln_b), B, C,
                       c.layer_norm_eps);
  return lb.out;
}

void bert_mlm_transform_forward(Backend& be, const BertConfig& c, const BertParamLayout& L, const float* params,
                                BertBuffers& buf, const float* hidden, const int32_t* gather, int64_t rows,
                                ActivationSink* sink, int64_t batch) {
  TF_CHECK(c.masked_lm(), "bert forward: the masked-LM head of a classification model");
  if (rows == 0) return;
  const int64_t C = c.hidden_size;
  auto W = [&](int64_t offset) { return params + offset; };
  const float* x = hidden;
  if (gather) {
    be.gather_rows_indexed(buf.head_rows, hidden, gather, rows, C);
    x = buf.head_rows;
  }
  linear(be, buf.head_pre, x, W(L.mlm_dense_w), rows, C, C);
  be.bias_gelu_forward(buf.head_pre, buf.head_act, W(L.mlm_dense_b), rows, C);
  be.layernorm_forward(buf.head_ln, buf.head_mean, buf.head_rstd, buf.head_act, W(L.mlm_ln_w), W(L.mlm_ln_b), rows, C,
                       c.layer_norm_eps);
  if (sink) {
    const size_t head = bert_point_head(c);
    sink->capture(head, buf.head_pre, batch, C);
    sink->capture(head + 1, buf.head_ln, batch, C);
  }
}

void bert_mlm_decoder_forward(Backend& be, const BertConfig& c, const BertParamLayout& L, const float* params,
                              const float* x, int64_t rows, float* logits) {
  if (rows == 0) return;
  linear(be, logits, x, params + L.decoder_w, rows, c.hidden_size, c.vocab_size);
  be.add_bias(logits, params + L.decoder_b, rows, c.vocab_size);
}

void bert_classifier_head_forward(Backend& be, const BertConfig& c, const BertParamLayout& L, const float* params,
                                  BertBuffers& buf, const float* hidden, int64_t B, int64_t T, ActivationSink* sink,
                                  const int32_t* cls_rows) {
  TF_CHECK(!c.masked_lm(), "bert forward: the classification head of a masked-LM model");
  const int64_t C = c.hidden_size;
  auto W = [&](int64_t offset) { return params + offset; };
  const float* cls = hidden;
  if (cls_rows) {
    be.gather_rows_indexed(buf.cls_in, hidden, cls_rows, B, C);
    cls = buf.cls_in;
  } else if (T > 1) {
    be.gather_rows(buf.cls_in, hidden, B, C, T * C);
    cls = buf.cls_in;
  }
  linear(be, buf.pooler_pre, cls, W(L.pooler_w), B, C, C);
  be.bias_tanh_forward(buf.pooler_pre, buf.pooled, W(L.pooler_b), B, C);
  linear(be, buf.class_logits, buf.pooled, W(L.classifier_w), B, C, c.num_labels);
  be.add_bias(buf.class_logits, W(L.classifier_b), B, c.num_labels);
  if (sink) {
    const size_t head = bert_point_head(c);
    sink->capture(head, buf.pooler_pre, B, C);
    sink->capture(head + 1, buf.class_logits, B, c.num_labels);
  }
}

}  // namespace tf
