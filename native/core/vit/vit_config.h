// The shape of a ViTForImageClassification, in Hugging Face ViTConfig terms, and the
// sizes derived from it. Square images and patches (HF's ViTConfig takes ints).
#pragma once

#include <cstdint>
#include <string>

#include "../error.h"

namespace tf {

struct VitConfig {
  int64_t image_size = 224;
  int64_t patch_size = 16;
  int64_t num_channels = 3;
  int64_t hidden_size = 768;
  int64_t num_layers = 12;
  int64_t num_heads = 12;
  int64_t intermediate_size = 3072;
  int64_t num_labels = 2;
  float layer_norm_eps = 1e-12f;
  bool qkv_bias = true;

  int64_t grid() const { return image_size / patch_size; }  // patches per side
  int64_t num_patches() const { return grid() * grid(); }
  int64_t tokens() const { return num_patches() + 1; }      // CLS + patches
  int64_t head_dim() const { return hidden_size / num_heads; }
  int64_t patch_dim() const { return num_channels * patch_size * patch_size; }
  int64_t image_floats() const { return num_channels * image_size * image_size; }

  // Throws tf::Error naming the first field that cannot describe a ViT.
  void validate() const {
    auto positive = [](int64_t v, const char* name) {
      if (v <= 0) throw Error(std::string("ViT config: ") + name + " must be positive, got " + std::to_string(v));
    };
    positive(image_size, "image_size");
    positive(patch_size, "patch_size");
    positive(num_channels, "num_channels");
    positive(hidden_size, "hidden_size");
    positive(num_layers, "num_hidden_layers");
    positive(num_heads, "num_attention_heads");
    positive(intermediate_size, "intermediate_size");
    positive(num_labels, "num_labels");
    if (image_size % patch_size != 0)
      throw Error("ViT config: image_size " + std::to_string(image_size) + " is not a multiple of patch_size " +
                  std::to_string(patch_size));
    if (hidden_size % num_heads != 0)
      throw Error("ViT config: hidden_size " + std::to_string(hidden_size) + " is not a multiple of num_attention_heads " +
                  std::to_string(num_heads));
    if (!(layer_norm_eps > 0.0f)) throw Error("ViT config: layer_norm_eps must be positive");
  }
};

}  // namespace tf
