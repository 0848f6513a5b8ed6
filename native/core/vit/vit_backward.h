// The backward pass of ViTForImageClassification: from the gradient of the logits to the
// gradient of every parameter, walking back through the buffers a training forward pass
// (vit_forward with training = true) left behind.
#pragma once

#include <cstdint>
#include <memory>

#include "../backend.h"
#include "../task.h"
#include "vit_buffers.h"
#include "vit_config.h"
#include "vit_params.h"

namespace tf {

// Working memory of the backward pass for a batch: activation gradients, reused layer
// after layer. One allocation, like VitBuffers.
class VitGradBuffers {
 public:
  VitGradBuffers(Backend& be, const VitConfig& config, int64_t batch);

  int64_t batch() const { return batch_; }

  float* dlogits;      // (B, labels) gradient of the loss w.r.t. the logits (the caller fills it)
  float* dcls_normed;  // (B, C) gradient of the final LayerNorm's output (CLS rows)
  float* dx;           // (B, T, C) gradient of the residual stream at the current layer boundary
  float* dln;          // (B, T, C) gradient of a LayerNorm output or of the heads' output
  float* dqkv;         // (B, T, 3C)
  float* dmlp;         // (B, T, I) gradient of the MLP activation, then (in place) of its input
  float* dpatch;       // (B, P, C) gradient of the patch projection output

 private:
  int64_t batch_;
  std::unique_ptr<DeviceBuffer> memory_;
};

// Adds the gradient of the loss for these B images to `grads` (layout order, backend
// memory; the caller zeroes it before the first micro-batch of a step). `grad` must hold
// the loss gradient w.r.t. the logits in grad.dlogits; `buffers` must be those of the
// training forward pass of the same images and parameters.
void vit_backward(Backend& be, const VitConfig& config, const VitParamLayout& layout, const float* params,
                  float* grads, VitBuffers& buffers, VitGradBuffers& grad, int64_t batch, const TaskContext* ctx);

}  // namespace tf
