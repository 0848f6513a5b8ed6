// A ViT held in native memory: config, parameters (one contiguous buffer in the
// VitParamLayout order, uploaded once) and the forward pass's working buffers. Used by
// one computation at a time (calls serialise on a mutex).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../activations/activation_store.h"
#include "../backend.h"
#include "../task.h"
#include "vit_buffers.h"
#include "vit_config.h"
#include "vit_params.h"

namespace tf {

class VitModel {
 public:
  // `params` holds layout.total() floats in host memory. `point_names`, when not empty,
  // renames the capture points (one name per vit_capture_points() entry, same order).
  VitModel(const VitConfig& config, Backend& backend, const float* params, int64_t count,
           const std::vector<std::string>& point_names = {});

  const VitConfig& config() const { return config_; }
  const VitParamLayout& layout() const { return layout_; }
  Backend& backend() const { return *backend_; }
  const std::vector<CapturePoint>& capture_points() const { return points_; }

  // Images go through the encoder this many at a time (bounds the working memory). The
  // default keeps about kMicroBatchRows token rows in flight: the per-layer buffers of a
  // micro-batch then stay in the caches between the GEMMs and the fused passes, which
  // beats larger GEMMs on the CPU (measured on a CIFAR ViT: 16 images of 65 tokens).
  int64_t micro_batch() const { return micro_batch_; }
  void set_micro_batch(int64_t n);

  // n images (n x C x H x W floats, host) -> logits (n x num_labels, host). With labels
  // (n ints, host), losses (n floats, host) receive the per-sample cross-entropy.
  // Reports progress in images.
  void forward(const float* images, int64_t n, float* logits, const int32_t* labels, float* losses,
               TaskContext* ctx);

  // Runs the first min(n, store.remaining()) images and files their activations and
  // losses (NaN without labels) in the store; returns how many it took.
  int64_t capture(ActivationStore& store, const float* images, int64_t n, const int32_t* labels, TaskContext* ctx);

  // Copies the parameters back to the host (params.size() == layout().total()).
  void read_parameters(float* params) const;

 private:
  VitBuffers& buffers_for(int64_t batch);
  // One micro-batch: inputs in host memory, results back in host memory.
  void run_chunk(const float* images, int64_t batch, const int32_t* labels, float* logits, float* losses,
                 ActivationSink* sink, TaskContext* ctx, int64_t last_point = -1);

  VitConfig config_;
  VitParamLayout layout_;
  Backend* backend_;
  std::vector<CapturePoint> points_;
  std::unique_ptr<DeviceBuffer> params_;
  std::unique_ptr<VitBuffers> buffers_;
  std::unique_ptr<DeviceBuffer> staging_;  // images on a device backend
  static constexpr int64_t kMicroBatchRows = 1024;
  int64_t micro_batch_ = 1;
  mutable std::mutex mutex_;
};

}  // namespace tf
