// A ViT held in native memory: config, parameters (one contiguous buffer in the
// VitParamLayout order, uploaded once) and the forward pass's working buffers. Used by
// one computation at a time (calls serialise on a mutex).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "../activations/activation_store.h"
#include "../activations/staged_samples.h"
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

  // Overwrites `count` parameters from `offset` (in floats, layout order) with host
  // floats. With staged samples, parameters of a stage they have passed are refused:
  // the streams they carry would no longer be this model's.
  void write_parameters(int64_t offset, const float* data, int64_t count);

  // --- Staged passes (statistics repair, lib/fusion/repair.ts) --------------------------
  // Repair measures the same samples again and again, one group of layers at a time in
  // forward order, and rescales each group before it measures the next. Staged samples
  // carry every sample's residual stream from stage to stage (stage -1: the embeddings;
  // stage l: encoder layer l; stage num_layers: the final LayerNorm and head), so each
  // capture starts at the stage of its store's first kept point instead of at the images,
  // and a repair costs a few forward passes instead of one per group.
  //
  // Adds n images (host, copied) to the staged samples; only before their first capture.
  void stage_samples(const float* images, int64_t n);
  // Captures every staged sample into `store` (its kept points; it must have room for
  // them all, and no losses are computed). The samples' streams are first carried, with
  // the parameters as they are now, to the stage of the store's first kept point; a point
  // of a stage they have passed is an error. Returns the samples captured. With
  // after_chunk, the store is filled one chunk at a time and handed to after_chunk after
  // each chunk's commit, which must empty it (fusion/column_moments.h).
  int64_t capture_staged(ActivationStore& store, TaskContext* ctx,
                         const std::function<void()>& after_chunk = nullptr);
  // Options for a store that a capture_staged with after_chunk fills: room for the largest
  // chunk of staged samples (each chunk is committed, then after_chunk must empty it).
  ActivationStoreOptions staged_chunk_options() const;
  // Re-entering a layer (layer_resume.h): a capture that stops right after a linear group
  // of the stage the samples are at (Q/K/V, attention output, MLP input or output) keeps
  // that group's outputs, and the next capture that needs nothing before them re-enters
  // the layer there instead of at its start, as long as the stage's parameters are not
  // written in between, or are written and then declared here: the caller rescaled the
  // group's output neurons (W' = a W, b' = a b + c per neuron of each named point, scale
  // and shift holding a and c point after point) and the kept outputs are mapped the same
  // way. `points` must name the kept group's outputs (Q, K and V together). Returns
  // false, forgetting the kept outputs, when they cannot be mapped: the next capture
  // then runs the layer from its start.
  bool rescale_staged(const std::vector<std::string>& points, const std::vector<double>& scale,
                      const std::vector<double>& shift);
  // Forgets the staged samples and their streams.
  void clear_staged();
  int64_t staged_count() const;
  int64_t staged_stage() const;

 private:
  VitBuffers& buffers_for(int64_t batch);
  // One micro-batch: inputs in host memory, results back in host memory. `start_layer`
  // >= 0 starts a capture there from `stream` (backend memory, batch x tokens x hidden)
  // instead of at the images.
  void run_chunk(const float* images, int64_t batch, const int32_t* labels, float* logits, float* losses,
                 ActivationSink* sink, TaskContext* ctx, int64_t last_point = -1, int64_t start_layer = -1,
                 const float* stream = nullptr, LayerResume* resume = nullptr);
  void check_store(const ActivationStore& store) const;
  // The stage (-1 ... num_layers) that reads the parameter at `offset`.
  int64_t stage_of_parameter(int64_t offset) const;
  // The staged samples' chunks as the passes run them (micro-batches).
  std::vector<StagedRows> staged_rows() const;


  VitConfig config_;
  VitParamLayout layout_;
  Backend* backend_;
  std::vector<CapturePoint> points_;
  LayerPoints layer_points_;
  std::unique_ptr<DeviceBuffer> params_;
  std::unique_ptr<VitBuffers> buffers_;
  std::unique_ptr<DeviceBuffer> staging_;  // images on a device backend
  StagedSamples staged_;
  std::vector<float> staged_images_;  // host; dropped once the embeddings are passed
  static constexpr int64_t kMicroBatchRows = 1024;
  int64_t micro_batch_ = 1;
  mutable std::mutex mutex_;
};

}  // namespace tf
