// Trains a ViT in native memory: parameters, their gradients and the AdamW moments in
// three buffers of the same VitParamLayout, the forward pass's buffers for every layer,
// and the optimiser's step counter. One step = augment the batch, forward and backward
// micro-batch by micro-batch (gradients add up), clip to a global norm, AdamW with the
// scheduled learning rate. Used by one computation at a time (calls serialise).
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "../backend.h"
#include "../task.h"
#include "../vit/vit_backward.h"
#include "../vit/vit_buffers.h"
#include "../vit/vit_config.h"
#include "../vit/vit_params.h"
#include "lr_schedule.h"
#include "train_state.h"
#include "train_ops.h"

namespace tf {

struct TrainerConfig {
  LrSchedule schedule;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  // Decoupled weight decay, applied to the weights of linear layers and of the patch
  // projection only: never to biases, LayerNorm gains, the class token or the position
  // embeddings.
  double weight_decay = 0.0;
  float label_smoothing = 0.0f;
  // Global L2 norm the gradients are clipped to; <= 0 turns clipping off.
  double max_grad_norm = 1.0;
  bool augment = false;
  AugmentParams augmentation;  // its seed keys the per-step streams
};

struct StepResult {
  double loss = 0;        // mean (smoothed) loss over the batch, before the update
  int64_t correct = 0;    // images whose top logit is their label, before the update
  double grad_norm = 0;   // global gradient norm before clipping
  double lr = 0;          // learning rate the step used
  int64_t step = 0;       // steps done after this one
};

class VitTrainer {
 public:
  // `params` holds layout.total() floats (host). Steps take up to batch_capacity images,
  // run in micro-batches of at most micro_batch images.
  VitTrainer(const VitConfig& config, Backend& backend, const float* params, int64_t count, int64_t batch_capacity,
             int64_t micro_batch);

  const VitConfig& config() const { return config_; }
  const VitParamLayout& layout() const { return layout_; }
  Backend& backend() const { return *backend_; }
  int64_t batch_capacity() const { return capacity_; }
  int64_t micro_batch() const { return micro_batch_; }

  void configure(const TrainerConfig& config);
  const TrainerConfig& trainer_config() const { return cfg_; }

  // One optimiser step on n <= batch_capacity images (n x C x H x W floats, host,
  // normalised) with their labels. ctx is checked between micro-batches and layers; a
  // cancelled step leaves parameters and moments as they were.
  StepResult step(const float* images, const int32_t* labels, int64_t n, TaskContext* ctx);

  // The gradient of the mean loss (with the configured label smoothing, without
  // augmentation) at the current parameters, into grads_out (layout().total() floats,
  // host). Returns the mean loss. Changes nothing.
  double gradients(const float* images, const int32_t* labels, int64_t n, float* grads_out, TaskContext* ctx);

  int64_t steps_done() const { return step_; }
  void read_parameters(float* params) const;
  void read_moments(float* m, float* v) const;
  // Restores a saved optimiser state: the step counter and both moments (host).
  void load_state(int64_t steps_done, const float* m, const float* v);

 private:
  // Adds the gradient of sum(losses) * scale over n images (backend memory) to the accumulated gradients.
  void accumulate(const float* images, const int32_t* labels, int64_t n, float scale, double* loss_sum,
                  int64_t* correct, TaskContext* ctx);
  const float* stage_images(const float* images, int64_t n);

  VitConfig config_;
  VitParamLayout layout_;
  Backend* backend_;
  int64_t capacity_, micro_batch_;
  TrainerConfig cfg_;
  int64_t step_ = 0;
  std::unique_ptr<TrainState> state_;
  std::unique_ptr<DeviceBuffer> images_, augmented_, labels_;
  std::unique_ptr<VitBuffers> buffers_;
  std::unique_ptr<VitGradBuffers> grad_buffers_;
  std::vector<float> host_logits_, host_losses_;
  mutable std::mutex mutex_;
};

}  // namespace tf
