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
    : config_(config),
      layout_(config),
      backend_(&backend),
      points_(vit_capture_points(config)),
      layer_points_(vit_layer_points(config)) {
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
  if (n != micro_batch_) {
    buffers_.reset();
    staged_.forget_kept();  // kept group outputs are laid out chunk by chunk
  }
  micro_batch_ = n;
}

VitBuffers& VitModel::buffers_for(int64_t batch) {
  if (!buffers_ || buffers_->batch() < batch) buffers_ = std::make_unique<VitBuffers>(*backend_, config_, batch, 1);
  return *buffers_;
}

void VitModel::run_chunk(const float* images, int64_t batch, const int32_t* labels, float* logits, float* losses,
                         ActivationSink* sink, TaskContext* ctx, int64_t last_point, int64_t start_layer,
                         const float* stream, LayerResume* resume) {
  Backend& be = *backend_;
  const bool on_host = be.device() == Device::Cpu;
  VitBuffers& buf = buffers_for(std::min(micro_batch_, std::max<int64_t>(batch, 1)));
  const float* dev_images = images;
  if (start_layer >= 0) {
    // A staged pass: the stream enters the first layer from buf.embed.
    const int64_t C = config_.hidden_size;
    be.gather_rows(buf.embed, stream, batch * config_.tokens(), C, C);
  } else if (!on_host) {
    const size_t image_bytes = size_t(batch * config_.image_floats()) * sizeof(float);
    if (!staging_ || staging_->bytes() < image_bytes) staging_ = std::make_unique<DeviceBuffer>(be, image_bytes);
    be.copy_from_host(staging_->get(), images, image_bytes);
    dev_images = staging_->get<float>();
  }
  if (!vit_forward(be, config_, layout_, params_->get<float>(), buf, dev_images, batch, sink, ctx, false, last_point,
                   start_layer, resume)) {
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

void VitModel::check_store(const ActivationStore& store) const {
  TF_CHECK(store.entry_count() == points_.size(), "activation store was planned for a different model");
  for (size_t i = 0; i < points_.size(); ++i) {
    const ActivationEntry& e = store.entry(i);
    if (e.width != points_[i].width || e.source_tokens != points_[i].tokens)
      throw Error("activation store entry '" + e.name + "' does not match this model's '" + points_[i].name + "'");
  }
}

int64_t VitModel::capture(ActivationStore& store, const float* images, int64_t n, const int32_t* labels,
                          TaskContext* ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  check_store(store);
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

int64_t VitModel::stage_of_parameter(int64_t offset) const {
  int64_t stage = -1;
  for (int64_t l = 0; l < config_.num_layers && offset >= layout_.layers[size_t(l)].ln1_w; ++l) stage = l;
  return offset >= layout_.final_ln_w ? config_.num_layers : stage;
}

void VitModel::write_parameters(int64_t offset, const float* data, int64_t count) {
  std::lock_guard<std::mutex> lock(mutex_);
  staged_.check_write(stage_of_parameter(offset));
  write_parameter_range(*backend_, params_->get<float>(), layout_.total(), offset, data, count);
}

void VitModel::stage_samples(const float* images, int64_t n) {
  std::lock_guard<std::mutex> lock(mutex_);
  staged_.add(n);
  staged_images_.insert(staged_images_.end(), images, images + n * config_.image_floats());
}

void VitModel::clear_staged() {
  std::lock_guard<std::mutex> lock(mutex_);
  staged_ = StagedSamples{};
  std::vector<float>().swap(staged_images_);
}

int64_t VitModel::staged_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return staged_.count();
}

int64_t VitModel::staged_stage() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return staged_.stage();
}

std::vector<StagedRows> VitModel::staged_rows() const {
  std::vector<StagedRows> chunks;
  const int64_t n = staged_.count(), T = config_.tokens();
  for (int64_t i = 0; i < n; i += micro_batch_) {
    const int64_t b = std::min(micro_batch_, n - i);
    chunks.push_back({i * T, b * T, b});
  }
  return chunks;
}

ActivationStoreOptions VitModel::staged_chunk_options() const {
  std::lock_guard<std::mutex> lock(mutex_);
  ActivationStoreOptions o;
  o.capacity = std::max<int64_t>(1, std::min(micro_batch_, staged_.count()));
  return o;
}

int64_t VitModel::capture_staged(ActivationStore& store, TaskContext* ctx, const std::function<void()>& after_chunk) {
  std::lock_guard<std::mutex> lock(mutex_);
  check_store(store);
  std::vector<float> logits(size_t(std::min(micro_batch_, staged_.count()) * config_.num_labels));
  auto run = [&](size_t k, ActivationSink& sink, int64_t last_point, int64_t stage, const float* stream,
                 LayerResume* resume) {
    const int64_t i = int64_t(k) * micro_batch_, b = std::min(micro_batch_, staged_.count() - i);
    const float* images = stream ? nullptr : staged_images_.data() + i * config_.image_floats();
    run_chunk(images, b, nullptr, logits.data(), nullptr, &sink, ctx, last_point, stage, stream, resume);
  };
  const int64_t n = staged_.capture(*backend_, store, points_, layer_points_, staged_rows(), run, ctx, after_chunk);
  if (staged_.carried()) std::vector<float>().swap(staged_images_);  // the streams stand for them now
  return n;
}

bool VitModel::rescale_staged(const std::vector<std::string>& names, const std::vector<double>& scale,
                              const std::vector<double>& shift) {
  std::lock_guard<std::mutex> lock(mutex_);
  return staged_.rescale_kept(*backend_, names, points_, scale, shift, layer_points_, staged_rows());
}

}  // namespace tf
