#include "vit_buffers.h"

namespace tf {

VitBuffers::VitBuffers(Backend& be, const VitConfig& c, int64_t batch, int64_t layers_kept) : batch_(batch) {
  const int64_t B = batch, T = c.tokens(), C = c.hidden_size, I = c.intermediate_size, NH = c.num_heads;
  const int64_t P = c.num_patches();
  DeviceArena arena;
  auto want = [&](float** p, int64_t n) { arena.want(p, n); };
  want(&patches, B * P * c.patch_dim());
  want(&patch_out, B * P * C);
  want(&embed, B * T * C);
  want(&final_ln, B * T * C);
  want(&final_mean, B * T);
  want(&final_rstd, B * T);
  want(&cls_in, B * C);
  want(&logits, B * c.num_labels);
  want(&losses, B);
  want(&label_slots_, B);
  layers_.resize(size_t(std::max<int64_t>(1, std::min(layers_kept, c.num_layers))));
  for (auto& L : layers_) {
    want(&L.ln1, B * T * C);
    want(&L.ln1_mean, B * T);
    want(&L.ln1_rstd, B * T);
    want(&L.qkv, B * T * 3 * C);
    want(&L.att, B * NH * T * T);
    want(&L.atty, B * T * C);
    want(&L.attn_out, B * T * C);
    want(&L.attn_res, B * T * C);
    want(&L.ln2, B * T * C);
    want(&L.ln2_mean, B * T);
    want(&L.ln2_rstd, B * T);
    want(&L.mlp_pre, B * T * I);
    want(&L.mlp_act, B * T * I);
    want(&L.mlp_out, B * T * C);
    want(&L.out, B * T * C);
  }
  memory_ = arena.allocate(be);
}

}  // namespace tf
