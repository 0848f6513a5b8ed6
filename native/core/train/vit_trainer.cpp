#include "vit_trainer.h"

#include <algorithm>
#include <cmath>

#include "../error.h"
#include "../vit/vit_forward.h"
#include "rng.h"

namespace tf {

VitTrainer::VitTrainer(const VitConfig& config, Backend& backend, const float* params, int64_t count,
                       int64_t batch_capacity, int64_t micro_batch)
    : config_(config), layout_(config), backend_(&backend), capacity_(batch_capacity),
      micro_batch_(std::min(micro_batch, batch_capacity)) {
  if (count != layout_.total())
    throw Error("ViT parameters: expected " + std::to_string(layout_.total()) + " floats for this config, got " +
                std::to_string(count));
  TF_CHECK(batch_capacity >= 1, "trainer: the batch size must be at least 1");
  TF_CHECK(micro_batch >= 1, "trainer: the micro-batch must be at least 1");
  state_ = std::make_unique<TrainState>(backend, layout_.tensors(), params, count);
  const size_t image_bytes = size_t(capacity_ * config_.image_floats()) * sizeof(float);
  images_ = std::make_unique<DeviceBuffer>(backend, image_bytes);
  augmented_ = std::make_unique<DeviceBuffer>(backend, image_bytes);
  labels_ = std::make_unique<DeviceBuffer>(backend, size_t(capacity_) * sizeof(int32_t));
  buffers_ = std::make_unique<VitBuffers>(backend, config_, micro_batch_, config_.num_layers);
  grad_buffers_ = std::make_unique<VitGradBuffers>(backend, config_, micro_batch_);
  host_logits_.resize(size_t(micro_batch_ * config_.num_labels));
  host_losses_.resize(size_t(micro_batch_));
}

void VitTrainer::configure(const TrainerConfig& config) {
  check_optimizer_config(config);
  TF_CHECK(config.augmentation.fill.empty() || int64_t(config.augmentation.fill.size()) == config_.num_channels,
           "trainer: one augmentation fill value per channel");
  std::lock_guard<std::mutex> lock(mutex_);
  cfg_ = config;
}

const float* VitTrainer::stage_images(const float* images, int64_t n) {
  Backend& be = *backend_;
  be.copy_from_host(images_->get(), images, size_t(n * config_.image_floats()) * sizeof(float));
  return images_->get<float>();
}

void VitTrainer::accumulate(const float* images, const int32_t* labels, int64_t n, float scale, double* loss_sum,
                            int64_t* correct, TaskContext* ctx) {
  Backend& be = *backend_;
  const int64_t V = config_.num_labels, per_image = config_.image_floats();
  be.copy_from_host(labels_->get(), labels, size_t(n) * sizeof(int32_t));
  const int32_t* dev_labels = labels_->get<int32_t>();
  VitBuffers& buf = *buffers_;
  VitGradBuffers& g = *grad_buffers_;
  for (int64_t i = 0; i < n; i += micro_batch_) {
    if (ctx) ctx->check_cancelled();
    const int64_t b = std::min(micro_batch_, n - i);
    vit_forward(be, config_, layout_, state_->params(), buf, images + i * per_image, b, nullptr, ctx, true);
    be.cross_entropy_backward(g.dlogits, buf.losses, buf.logits, dev_labels + i, b, V, cfg_.label_smoothing, scale);
    vit_backward(be, config_, layout_, state_->params(), state_->grads(), buf, g, b, ctx);
    be.copy_to_host(host_logits_.data(), buf.logits, size_t(b * V) * sizeof(float));
    be.copy_to_host(host_losses_.data(), buf.losses, size_t(b) * sizeof(float));
    for (int64_t r = 0; r < b; ++r) {
      *loss_sum += host_losses_[size_t(r)];
      const float* z = host_logits_.data() + r * V;
      const int64_t top = std::max_element(z, z + V) - z;
      if (top == labels[i + r]) ++*correct;
    }
  }
}

StepResult VitTrainer::step(const float* images, const int32_t* labels, int64_t n, TaskContext* ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  TF_CHECK(n >= 1 && n <= capacity_, "train step: between 1 and " + std::to_string(capacity_) + " images per step");
  Backend& be = *backend_;
  const int64_t total = layout_.total();
  const float* batch = stage_images(images, n);
  if (cfg_.augment) {
    AugmentParams a = cfg_.augmentation;
    a.seed = stream_key(cfg_.augmentation.seed, uint64_t(step_));
    be.augment_images(augmented_->get<float>(), batch, n, config_.num_channels, config_.image_size, a);
    batch = augmented_->get<float>();
  }
  be.zero(state_->grads(), total);
  StepResult r;
  double loss_sum = 0;
  accumulate(batch, labels, n, 1.0f / float(n), &loss_sum, &r.correct, ctx);
  if (ctx) ctx->check_cancelled();
  r.loss = loss_sum / double(n);
  r.grad_norm = std::sqrt(be.sum_squares(state_->grads(), total));
  r.lr = state_->update(be, cfg_, step_, r.grad_norm, r.loss);
  r.step = ++step_;
  return r;
}

double VitTrainer::gradients(const float* images, const int32_t* labels, int64_t n, float* grads_out,
                             TaskContext* ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  TF_CHECK(n >= 1 && n <= capacity_, "gradients: between 1 and " + std::to_string(capacity_) + " images");
  Backend& be = *backend_;
  const float* batch = stage_images(images, n);
  be.zero(state_->grads(), layout_.total());
  double loss_sum = 0;
  int64_t correct = 0;
  accumulate(batch, labels, n, 1.0f / float(n), &loss_sum, &correct, ctx);
  state_->read_gradients(grads_out);
  return loss_sum / double(n);
}

void VitTrainer::read_parameters(float* params) const {
  std::lock_guard<std::mutex> lock(mutex_);
  state_->read_parameters(params);
}

void VitTrainer::read_moments(float* m, float* v) const {
  std::lock_guard<std::mutex> lock(mutex_);
  state_->read_moments(m, v);
}

void VitTrainer::load_state(int64_t steps_done, const float* m, const float* v) {
  TF_CHECK(steps_done >= 0, "trainer state: the step count must not be negative");
  std::lock_guard<std::mutex> lock(mutex_);
  state_->load_moments(m, v);
  step_ = steps_done;
}

}  // namespace tf
