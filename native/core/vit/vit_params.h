// Where each ViT parameter lives in the model's one contiguous float buffer. Training
// will allocate gradients and AdamW moments with this same layout, so one offset finds
// a parameter, its gradient and its optimizer state.
//
// Names here are the core's own ("layers.3.query.weight"); shapes are Hugging Face's, so
// the TypeScript adapter (lib/models/vit.ts) can map HF tensors onto them one to one.
// Q, K and V weights (and biases) sit next to each other, which makes them one
// (3 * hidden) x hidden matrix for a single QKV GEMM.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vit_config.h"

namespace tf {

struct ParamTensor {
  std::string name;
  std::vector<int64_t> shape;
  int64_t offset = 0;  // in floats from the start of the buffer
  int64_t size = 0;    // in floats
};

// Offsets (in floats) of one encoder layer's parameters. qkv_b is -1 without qkv_bias.
struct VitLayerOffsets {
  int64_t ln1_w, ln1_b;
  int64_t qkv_w, qkv_b;
  int64_t proj_w, proj_b;
  int64_t ln2_w, ln2_b;
  int64_t fc1_w, fc1_b;
  int64_t fc2_w, fc2_b;
};

class VitParamLayout {
 public:
  explicit VitParamLayout(const VitConfig& config);

  const std::vector<ParamTensor>& tensors() const { return tensors_; }
  int64_t total() const { return total_; }

  int64_t patch_w = 0, patch_b = 0, cls = 0, pos = 0;
  std::vector<VitLayerOffsets> layers;
  int64_t final_ln_w = 0, final_ln_b = 0, head_w = 0, head_b = 0;

 private:
  int64_t add(const std::string& name, std::vector<int64_t> shape);

  std::vector<ParamTensor> tensors_;
  int64_t total_ = 0;
};

}  // namespace tf
