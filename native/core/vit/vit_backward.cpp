#include "vit_backward.h"

#include <vector>

#include "../error.h"
#include "../linear_backward.h"

namespace tf {

VitGradBuffers::VitGradBuffers(Backend& be, const VitConfig& c, int64_t batch) : batch_(batch) {
  const int64_t B = batch, T = c.tokens(), C = c.hidden_size, I = c.intermediate_size, P = c.num_patches();
  DeviceArena arena;
  arena.want(&dlogits, B * c.num_labels);
  arena.want(&dcls_normed, B * C);
  arena.want(&dx, B * T * C);
  arena.want(&dln, B * T * C);
  arena.want(&dqkv, B * T * 3 * C);
  arena.want(&dmlp, B * T * I);
  arena.want(&dpatch, B * P * C);
  memory_ = arena.allocate(be);
}

void vit_backward(Backend& be, const VitConfig& c, const VitParamLayout& L, const float* params, float* grads,
                  VitBuffers& buf, VitGradBuffers& g, int64_t B, const TaskContext* ctx) {
  TF_CHECK(B >= 1 && B <= buf.batch() && B <= g.batch(), "vit backward: batch larger than the buffers");
  TF_CHECK(buf.layers_kept() == c.num_layers, "vit backward: the forward pass did not keep every layer");
  const int64_t T = c.tokens(), C = c.hidden_size, I = c.intermediate_size, P = c.num_patches(), V = c.num_labels;
  const int64_t BT = B * T;
  auto W = [&](int64_t offset) { return params + offset; };
  auto G = [&](int64_t offset) { return grads + offset; };

  // Classifier on the final LayerNorm of the CLS rows.
  linear_backward(be, g.dcls_normed, G(L.head_w), g.dlogits, buf.final_ln, W(L.head_w), B, C, V);
  be.bias_backward(G(L.head_b), g.dlogits, B, V);
  // Final LayerNorm (on the gathered CLS rows), then the gather's backward: the residual
  // stream's gradient is zero except on the CLS rows.
  be.zero(g.dln, B * C);
  be.layernorm_backward(g.dln, G(L.final_ln_w), G(L.final_ln_b), g.dcls_normed, buf.cls_in, buf.final_mean,
                        buf.final_rstd, W(L.final_ln_w), B, C);
  be.zero(g.dx, BT * C);
  be.scatter_add_rows(g.dx, g.dln, B, C, T * C);

  for (int64_t l = c.num_layers - 1; l >= 0; --l) {
    if (ctx) ctx->check_cancelled();
    const VitLayerOffsets& o = L.layers[size_t(l)];
    VitLayerBuffers& lb = buf.layer(l);
    const float* x_in = l == 0 ? buf.embed : buf.layer(l - 1).out;
    // g.dx holds the gradient of this layer's output, out = attn_res + mlp_out.
    linear_backward(be, g.dmlp, G(o.fc2_w), g.dx, lb.mlp_act, W(o.fc2_w), BT, I, C);
    be.bias_backward(G(o.fc2_b), g.dx, BT, C);
    be.gelu_backward(g.dmlp, lb.mlp_pre, g.dmlp, BT * I);
    linear_backward(be, g.dln, G(o.fc1_w), g.dmlp, lb.ln2, W(o.fc1_w), BT, C, I);
    be.bias_backward(G(o.fc1_b), g.dmlp, BT, I);
    // The residual passes dx through; LayerNorm adds its part: g.dx becomes d attn_res.
    be.layernorm_backward(g.dx, G(o.ln2_w), G(o.ln2_b), g.dln, lb.attn_res, lb.ln2_mean, lb.ln2_rstd, W(o.ln2_w), BT,
                          C);
    // attn_res = x_in + atty · W_projᵀ + b_proj
    linear_backward(be, g.dln, G(o.proj_w), g.dx, lb.atty, W(o.proj_w), BT, C, C);
    be.bias_backward(G(o.proj_b), g.dx, BT, C);
    be.attention_backward(g.dqkv, g.dln, lb.qkv, lb.att, B, T, C, c.num_heads);
    linear_backward(be, g.dln, G(o.qkv_w), g.dqkv, lb.ln1, W(o.qkv_w), BT, C, 3 * C);
    if (o.qkv_b >= 0) be.bias_backward(G(o.qkv_b), g.dqkv, BT, 3 * C);
    // g.dx becomes the gradient of this layer's input.
    be.layernorm_backward(g.dx, G(o.ln1_w), G(o.ln1_b), g.dln, x_in, lb.ln1_mean, lb.ln1_rstd, W(o.ln1_w), BT, C);
  }

  // Embeddings: CLS and positions directly, the patch projection as a linear layer on
  // the flattened patches (no gradient for the images).
  be.embeddings_backward(g.dpatch, G(L.cls), G(L.pos), g.dx, B, P, C);
  linear_backward(be, nullptr, G(L.patch_w), g.dpatch, buf.patches, W(L.patch_w), B * P, c.patch_dim(), C);
  be.bias_backward(G(L.patch_b), g.dpatch, B * P, C);
}

}  // namespace tf
