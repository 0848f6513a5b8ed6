#include "vit_params.h"

namespace tf {

int64_t VitParamLayout::add(const std::string& name, std::vector<int64_t> shape) {
  int64_t size = 1;
  for (int64_t d : shape) size *= d;
  tensors_.push_back({name, std::move(shape), total_, size});
  int64_t offset = total_;
  total_ += size;
  return offset;
}

VitParamLayout::VitParamLayout(const VitConfig& c) {
  c.validate();
  const int64_t C = c.hidden_size, I = c.intermediate_size;
  patch_w = add("embed.patch.weight", {C, c.num_channels, c.patch_size, c.patch_size});
  patch_b = add("embed.patch.bias", {C});
  cls = add("embed.cls_token", {1, 1, C});
  pos = add("embed.position", {1, c.tokens(), C});
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const std::string p = "layers." + std::to_string(l) + ".";
    VitLayerOffsets o{};
    o.ln1_w = add(p + "ln1.weight", {C});
    o.ln1_b = add(p + "ln1.bias", {C});
    o.qkv_w = add(p + "query.weight", {C, C});
    add(p + "key.weight", {C, C});
    add(p + "value.weight", {C, C});
    o.qkv_b = -1;
    if (c.qkv_bias) {
      o.qkv_b = add(p + "query.bias", {C});
      add(p + "key.bias", {C});
      add(p + "value.bias", {C});
    }
    o.proj_w = add(p + "attn_out.weight", {C, C});
    o.proj_b = add(p + "attn_out.bias", {C});
    o.ln2_w = add(p + "ln2.weight", {C});
    o.ln2_b = add(p + "ln2.bias", {C});
    o.fc1_w = add(p + "mlp_in.weight", {I, C});
    o.fc1_b = add(p + "mlp_in.bias", {I});
    o.fc2_w = add(p + "mlp_out.weight", {C, I});
    o.fc2_b = add(p + "mlp_out.bias", {C});
    layers.push_back(o);
  }
  final_ln_w = add("final_ln.weight", {C});
  final_ln_b = add("final_ln.bias", {C});
  head_w = add("head.weight", {c.num_labels, C});
  head_b = add("head.bias", {c.num_labels});
}

}  // namespace tf
