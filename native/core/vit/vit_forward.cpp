#include "vit_forward.h"

#include <algorithm>

#include "../error.h"
#include "vit_capture.h"

namespace tf {

namespace {

// y (rows x out) = x (rows x in) · Wᵀ, W stored (out x in) as torch.nn.Linear keeps it.
void linear(Backend& be, float* y, const float* x, const float* w, int64_t rows, int64_t in, int64_t out) {
  be.gemm(false, true, rows, out, in, 1.0f, x, in, w, in, 0.0f, y, out);
}

}  // namespace

bool vit_forward(Backend& be, const VitConfig& c, const VitParamLayout& L, const float* params, VitBuffers& buf,
                 const float* images, int64_t B, ActivationSink* sink, const TaskContext* ctx, bool training,
                 int64_t last_point, int64_t start_layer, LayerResume* resume) {
  TF_CHECK(B >= 1 && B <= buf.batch(), "vit forward: batch larger than the buffers");
  TF_CHECK(start_layer < 0 || (sink && !training && start_layer <= c.num_layers),
           "vit forward: a pass that starts inside the encoder is a capture");
  TF_CHECK(!training || (!sink && buf.layers_kept() == c.num_layers),
           "vit forward: a training pass keeps every layer and captures nothing");
  TF_CHECK(!resume || (start_layer >= 0 && start_layer < c.num_layers), "vit forward: re-entering outside a layer");
  const int64_t T = c.tokens(), C = c.hidden_size, I = c.intermediate_size, P = c.num_patches();
  const int64_t BT = B * T;
  auto W = [&](int64_t offset) { return params + offset; };
  auto capture = [&](size_t point, const float* data, int64_t stride) {
    if (sink) sink->capture(point, data, B, stride);
  };

  // Embeddings: the patch conv as a GEMM over flattened patches, then CLS and positions.
  if (start_layer < 0) {
    be.patch_extract(buf.patches, images, B, c.num_channels, c.image_size, c.patch_size);
    linear(be, buf.patch_out, buf.patches, W(L.patch_w), B * P, c.patch_dim(), C);
    be.add_bias(buf.patch_out, W(L.patch_b), B * P, C);
    capture(vit_point_patch(), buf.patch_out, C);
    be.embeddings_assemble(buf.embed, buf.patch_out, W(L.cls), W(L.pos), B, P, C);
    capture(vit_point_embed(), buf.embed, C);
  }
  // Stopping early (a capture whose last point lies before the final LayerNorm): right
  // after that point, wherever it is computed.
  const bool stops = sink && last_point >= 0 && size_t(last_point) < vit_point_final_ln(c);
  if (stops && size_t(last_point) <= vit_point_embed()) return false;

  const float* x = buf.embed;
  // Without a capture, only CLS reaches the classifier: the last layer computes keys and
  // values for every token but everything after them for CLS alone. Training keeps every
  // layer whole, as the backward pass walks back through all of them.
  const int64_t full_layers = sink || training ? c.num_layers : c.num_layers - 1;
  for (int64_t l = std::max<int64_t>(start_layer, 0); l < full_layers; ++l) {
    if (ctx) ctx->check_cancelled();
    const VitLayerOffsets& o = L.layers[size_t(l)];
    VitLayerBuffers& lb = buf.layer(l);
    auto point = [&](VitLayerPoint p) { return vit_point_layer(l, p); };
    auto stop_after = [&](VitLayerPoint p) { return stops && size_t(last_point) <= point(p); };

    // Re-entering this layer after a kept group (layer_resume.h), or keeping one.
    LayerResume* at = resume && l == start_layer ? resume : nullptr;
    const LayerGroup enter = at ? at->enter : LayerGroup::None;
    auto entered = [&](LayerGroup g) { return int(enter) >= int(g); };
    auto keep = [&](LayerGroup g, const float* out, int64_t width, bool with_residual) {
      if (at) at->keep_group(be, g, out, BT, width, with_residual ? lb.attn_res : nullptr, C);
    };
    auto restore = [&](float* dst, const float* src, int64_t width) { be.gather_rows(dst, src, BT, width, width); };

    if (!entered(LayerGroup::Qkv)) {
      be.layernorm_forward(lb.ln1, lb.ln1_mean, lb.ln1_rstd, x, W(o.ln1_w), W(o.ln1_b), BT, C, c.layer_norm_eps);
      capture(point(kLn1), lb.ln1, C);
      if (stop_after(kLn1)) return false;

      linear(be, lb.qkv, lb.ln1, W(o.qkv_w), BT, C, 3 * C);
      if (o.qkv_b >= 0) be.add_bias(lb.qkv, W(o.qkv_b), BT, 3 * C);
      capture(point(kQuery), lb.qkv, 3 * C);
      capture(point(kKey), lb.qkv + C, 3 * C);
      capture(point(kValue), lb.qkv + 2 * C, 3 * C);
      if (stop_after(kValue)) {
        keep(LayerGroup::Qkv, lb.qkv, 3 * C, false);
        return false;
      }
    } else if (enter == LayerGroup::Qkv) {
      restore(lb.qkv, resume->group, 3 * C);
    }

    if (!entered(LayerGroup::AttnOut)) {
      be.attention_forward(lb.atty, lb.att, lb.qkv, B, T, C, c.num_heads, T);
      linear(be, lb.attn_out, lb.atty, W(o.proj_w), BT, C, C);
      be.bias_residual_forward(lb.attn_res, lb.attn_out, W(o.proj_b), x, BT, C);
      capture(point(kAttnOut), lb.attn_out, C);
      capture(point(kAttention), lb.attn_out, C);
      if (stop_after(kAttention)) {
        keep(LayerGroup::AttnOut, lb.attn_out, C, false);
        return false;
      }
    } else if (enter == LayerGroup::AttnOut) {
      restore(lb.attn_out, resume->group, C);
      be.bias_residual_forward(lb.attn_res, lb.attn_out, resume->zeros, x, BT, C);
    }

    if (!entered(LayerGroup::MlpIn)) {
      be.layernorm_forward(lb.ln2, lb.ln2_mean, lb.ln2_rstd, lb.attn_res, W(o.ln2_w), W(o.ln2_b), BT, C,
                           c.layer_norm_eps);
      capture(point(kLn2), lb.ln2, C);
      if (stop_after(kLn2)) return false;

      linear(be, lb.mlp_pre, lb.ln2, W(o.fc1_w), BT, C, I);
      be.bias_gelu_forward(lb.mlp_pre, lb.mlp_act, W(o.fc1_b), BT, I);
      capture(point(kMlpIn), lb.mlp_pre, I);
      if (stop_after(kMlpIn)) {
        keep(LayerGroup::MlpIn, lb.mlp_pre, I, true);
        return false;
      }
    } else if (enter == LayerGroup::MlpIn) {
      restore(lb.attn_res, resume->residual, C);
      restore(lb.mlp_pre, resume->group, I);
      be.bias_gelu_forward(lb.mlp_pre, lb.mlp_act, resume->zeros, BT, I);
    }

    if (!entered(LayerGroup::MlpOut)) {
      linear(be, lb.mlp_out, lb.mlp_act, W(o.fc2_w), BT, I, C);
      be.bias_residual_forward(lb.out, lb.mlp_out, W(o.fc2_b), lb.attn_res, BT, C);
      capture(point(kMlpOut), lb.mlp_out, C);
    } else {
      restore(lb.attn_res, resume->residual, C);
      restore(lb.mlp_out, resume->group, C);
      be.bias_residual_forward(lb.out, lb.mlp_out, resume->zeros, lb.attn_res, BT, C);
    }
    capture(point(kLayerOut), lb.out, C);
    if (stop_after(kLayerOut)) {
      keep(LayerGroup::MlpOut, lb.mlp_out, C, true);
      return false;
    }
    x = lb.out;
  }
  TF_CHECK(!stops, "vit forward: the pass started after its last capture point");
  if (ctx) ctx->check_cancelled();

  const float* cls_normed;
  if (training) {
    be.gather_rows(buf.cls_in, x, B, C, T * C);
    be.layernorm_forward(buf.final_ln, buf.final_mean, buf.final_rstd, buf.cls_in, W(L.final_ln_w),
                         W(L.final_ln_b), B, C, c.layer_norm_eps);
    cls_normed = buf.final_ln;
  } else if (sink) {
    // Final LayerNorm over every token (captured), then the CLS rows for the classifier.
    be.layernorm_forward(buf.final_ln, buf.final_mean, buf.final_rstd, x, W(L.final_ln_w), W(L.final_ln_b), BT, C,
                         c.layer_norm_eps);
    capture(vit_point_final_ln(c), buf.final_ln, C);
    be.gather_rows(buf.cls_in, buf.final_ln, B, C, T * C);
    cls_normed = buf.cls_in;
  } else {
    // The last layer for CLS: B rows instead of B * T after the attention scores.
    const int64_t l = c.num_layers - 1;
    const VitLayerOffsets& o = L.layers[size_t(l)];
    VitLayerBuffers& lb = buf.layer(l);
    be.layernorm_forward(lb.ln1, lb.ln1_mean, lb.ln1_rstd, x, W(o.ln1_w), W(o.ln1_b), BT, C, c.layer_norm_eps);
    linear(be, lb.qkv, lb.ln1, W(o.qkv_w), BT, C, 3 * C);
    if (o.qkv_b >= 0) be.add_bias(lb.qkv, W(o.qkv_b), BT, 3 * C);
    be.attention_forward(lb.atty, lb.att, lb.qkv, B, T, C, c.num_heads, 1);
    be.gather_rows(buf.cls_in, x, B, C, T * C);         // residual stream, CLS rows
    be.gather_rows(lb.ln1, lb.atty, B, C, T * C);       // attention output, CLS rows (ln1 is free now)
    linear(be, lb.attn_out, lb.ln1, W(o.proj_w), B, C, C);
    be.bias_residual_forward(lb.attn_res, lb.attn_out, W(o.proj_b), buf.cls_in, B, C);
    be.layernorm_forward(lb.ln2, lb.ln2_mean, lb.ln2_rstd, lb.attn_res, W(o.ln2_w), W(o.ln2_b), B, C,
                         c.layer_norm_eps);
    linear(be, lb.mlp_pre, lb.ln2, W(o.fc1_w), B, C, I);
    be.bias_gelu_forward(lb.mlp_pre, lb.mlp_act, W(o.fc1_b), B, I);
    linear(be, lb.mlp_out, lb.mlp_act, W(o.fc2_w), B, I, C);
    be.bias_residual_forward(lb.out, lb.mlp_out, W(o.fc2_b), lb.attn_res, B, C);
    be.layernorm_forward(buf.final_ln, buf.final_mean, buf.final_rstd, lb.out, W(L.final_ln_w), W(L.final_ln_b), B,
                         C, c.layer_norm_eps);
    cls_normed = buf.final_ln;
  }
  linear(be, buf.logits, cls_normed, W(L.head_w), B, C, c.num_labels);
  be.add_bias(buf.logits, W(L.head_b), B, c.num_labels);
  capture(vit_point_head(c), buf.logits, c.num_labels);
  return true;
}

}  // namespace tf
