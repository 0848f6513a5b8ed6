#include "vit_model.h"

#include <algorithm>
#include <cmath>

#include "../activations/host_staging_sink.h"
#include "../error.h"
#include "vit_capture.h"
#include "vit_forward.h"

namespace tf {

VitModel::VitModel(const VitConfig& config, Backend& backend, const float* params, int64_t count,
                   const std::vector<std::string>& point_names)
    : config_(config), layout_(config), backend_(&backend), points_(vit_capture_points(config)) {
  if (count != layout_.total())
    throw Error("ViT parameters: expected " + std::to_string(layout_.total()) + " floats for this config, got " +
                std::to_string(count));
  if (!point_names.empty()) {
    if (point_names.size() != points_.size())
      throw Error("ViT capture names: expected " + std::to_string(points_.size()) + " names, got " +
                  std::to_string(point_names.size()));
    for (size_t i = 0; i < points_.size(); ++i) points_[i].name = point_names[i];
  }
  micro_batch_ = std::max<int64_t>(1, (kMicroBatchRows + config_.tokens() - 1) / config_.tokens());
  params_ = std::make_unique<DeviceBuffer>(backend, size_t(count) * sizeof(float));
  params_->upload(params);
}

void VitModel::set_micro_batch(int64_t n) {
  TF_CHECK(n >= 1, "micro batch must be at least 1");
  std::lock_guard<std::mutex> lock(mutex_);
  if (n != micro_batch_) buffers_.reset();
  micro_batch_ = n;
}

VitBuffers& VitModel::buffers_for(int64_t batch) {
  if (!buffers_ || buffers_->batch() < batch) buffers_ = std::make_unique<VitBuffers>(*backend_, config_, batch, 1);
  return *buffers_;
}

void VitModel::run_chunk(const float* images, int64_t batch, const int32_t* labels, float* logits, float* losses,
                         ActivationSink* sink, TaskContext* ctx, int64_t last_point) {
  Backend& be = *backend_;
  const bool on_host = be.device() == Device::Cpu;
  VitBuffers& buf = buffers_for(std::min(micro_batch_, std::max<int64_t>(batch, 1)));
  const size_t image_bytes = size_t(batch * config_.image_floats()) * sizeof(float);
  const float* dev_images = images;
  if (!on_host) {
    if (!staging_ || staging_->bytes() < image_bytes) staging_ = std::make_unique<DeviceBuffer>(be, image_bytes);
    be.copy_from_host(staging_->get(), images, image_bytes);
    dev_images = staging_->get<float>();
  }
  if (!vit_forward(be, config_, layout_, params_->get<float>(), buf, dev_images, batch, sink, ctx, false, last_point)) {
    // Stopped after last_point: no logits, no losses (no labels asked for them).
    if (losses) std::fill(losses, losses + batch, std::nanf(""));
    return;
  }
  const int64_t V = config_.num_labels;
  if (labels) {
    const int32_t* dev_labels = labels;
    if (!on_host) {
      be.copy_from_host(buf.labels(), labels, size_t(batch) * sizeof(int32_t));
      dev_labels = buf.labels();
    }
    be.cross_entropy_forward(buf.losses, buf.logits, dev_labels, batch, V);
    be.copy_to_host(losses, buf.losses, size_t(batch) * sizeof(float));
  } else if (losses) {
    std::fill(losses, losses + batch, std::nanf(""));
  }
  be.copy_to_host(logits, buf.logits, size_t(batch * V) * sizeof(float));
}

void VitModel::forward(const float* images, int64_t n, float* logits, const int32_t* labels, float* losses,
                       TaskContext* ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  const int64_t per_image = config_.image_floats(), V = config_.num_labels;
  for (int64_t i = 0; i < n; i += micro_batch_) {
    const int64_t b = std::min(micro_batch_, n - i);
    if (ctx) ctx->check_cancelled();
    run_chunk(images + i * per_image, b, labels ? labels + i : nullptr, logits + i * V,
              losses ? losses + i : nullptr, nullptr, ctx);
    if (ctx) ctx->progress(double(i + b), double(n));
  }
}

int64_t VitModel::capture(ActivationStore& store, const float* images, int64_t n, const int32_t* labels,
                          TaskContext* ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  TF_CHECK(store.entry_count() == points_.size(), "activation store was planned for a different model");
  for (size_t i = 0; i < points_.size(); ++i) {
    const ActivationEntry& e = store.entry(i);
    if (e.width != points_[i].width || e.source_tokens != points_[i].tokens)
      throw Error("activation store entry '" + e.name + "' does not match this model's '" + points_[i].name + "'");
  }
  const int64_t take = std::min(n, store.remaining());
  const int64_t per_image = config_.image_floats(), V = config_.num_labels;
  std::vector<float> logits(size_t(std::min(micro_batch_, std::max<int64_t>(take, 1)) * V));
  std::vector<float> losses(size_t(std::min(micro_batch_, std::max<int64_t>(take, 1))));
  // A store made for this model lives where it runs and takes the outputs as they are;
  // a host store filled from a GPU gets each kept output copied over (host_staging_sink.h).
  HostStagingSink staging(*backend_, store);
  ActivationSink* sink = &capture_sink(*backend_, store, staging);
  // Without labels (no losses to compute), nothing past the store's last kept point runs.
  const int64_t last_point = labels ? -1 : store.last_kept_point();
  for (int64_t i = 0; i < take; i += micro_batch_) {
    const int64_t b = std::min(micro_batch_, take - i);
    if (ctx) ctx->check_cancelled();
    run_chunk(images + i * per_image, b, labels ? labels + i : nullptr, logits.data(), losses.data(), sink, ctx,
              last_point);
    store.commit(b, losses.data());
    if (ctx) ctx->progress(double(i + b), double(take));
  }
  return take;
}

void VitModel::read_parameters(float* params) const {
  std::lock_guard<std::mutex> lock(mutex_);
  params_->download(params);
}

}  // namespace tf
