// The forward pass's working memory: one allocation cut into named
// buffers, sized for a batch. Per-layer buffers exist `layers_kept` times: the training
// pass keeps every layer (backward reads them all); inference keeps one set and reuses
// it layer after layer.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "../backend.h"
#include "vit_config.h"

namespace tf {

struct VitLayerBuffers {
  float* ln1;          // (B, T, C)
  float* ln1_mean;     // (B, T)
  float* ln1_rstd;     // (B, T)
  float* qkv;          // (B, T, 3C)
  float* att;          // (B, NH, T, T) softmax probabilities
  float* atty;         // (B, T, C) heads' outputs, before the output projection
  float* attn_out;     // (B, T, C) output projection incl. bias
  float* attn_res;     // (B, T, C) residual after attention
  float* ln2;          // (B, T, C)
  float* ln2_mean;     // (B, T)
  float* ln2_rstd;     // (B, T)
  float* mlp_pre;      // (B, T, I) first MLP linear, before GELU
  float* mlp_act;      // (B, T, I) after GELU
  float* mlp_out;      // (B, T, C) second MLP linear incl. bias
  float* out;          // (B, T, C) layer output (residual after the MLP)
};

class VitBuffers {
 public:
  VitBuffers(Backend& be, const VitConfig& config, int64_t batch, int64_t layers_kept);

  int64_t batch() const { return batch_; }
  int64_t layers_kept() const { return int64_t(layers_.size()); }
  // The buffers layer l writes. With fewer sets than layers they are shared; the pass
  // only reads a layer's input (the previous layer's `out`) before it writes `out`.
  VitLayerBuffers& layer(int64_t l) { return layers_[size_t(l) % layers_.size()]; }

  float* patches;     // (B * P, C_in * p * p)
  float* patch_out;   // (B, P, C)
  float* embed;       // (B, T, C)
  float* final_ln;    // (B, T, C) when capturing; CLS rows only otherwise
  float* final_mean;  // (B, T)
  float* final_rstd;  // (B, T)
  float* cls_in;      // (B, C) the last layer's CLS rows
  float* logits;      // (B, labels)
  float* losses;      // (B)
  int32_t* labels() const { return reinterpret_cast<int32_t*>(label_slots_); }  // (B)

 private:
  int64_t batch_;
  float* label_slots_;  // B four-byte slots, handed out as int32 labels
  std::unique_ptr<DeviceBuffer> memory_;
  std::vector<VitLayerBuffers> layers_;
};

}  // namespace tf
