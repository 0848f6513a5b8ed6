#include "staged_samples.h"

#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>

#include "../error.h"
#include "host_staging_sink.h"
#include "stream_sink.h"

namespace tf {

void StagedSamples::add(int64_t n) {
  TF_CHECK(!carried() && !streams_, "stage_samples: the staged samples were captured already");
  TF_CHECK(n >= 0, "stage_samples: negative count");
  count_ += n;
}

int64_t StagedSamples::capture(Backend& be, ActivationStore& store, const std::vector<CapturePoint>& points,
                               const LayerPoints& layers, const std::vector<StagedRows>& chunks,
                               const StagedChunkPass& run, TaskContext* ctx, const std::function<void()>& after_chunk) {
  TF_CHECK(count_ > 0, "capture_staged: no staged samples");
  int64_t room = count_;
  if (after_chunk) {
    room = 0;
    for (const StagedRows& c : chunks) room = std::max(room, c.samples);
  }
  if (store.remaining() < room)
    throw Error("capture_staged: the store has room for " + std::to_string(store.remaining()) + " samples, " +
                std::to_string(room) + (room == count_ ? " are staged" : " are captured at once"));
  const int64_t first = store.first_kept_point();
  TF_CHECK(first >= 0, "capture_staged: the store keeps no capture point");
  const int64_t target = layers.stage_of(size_t(first));
  if (target < stage_)
    throw Error("capture_staged: the staged samples have passed '" + points.at(size_t(first)).name + "'");

  const int64_t total_rows = chunks.empty() ? 0 : chunks.back().first_row + chunks.back().rows;
  const double stages = double(target - stage_ + 1), per_stage = double(count_);
  double done = 0;
  while (stage_ < target) {
    run_pass(be, nullptr, int64_t(layers.stage_output(stage_)), streams(be, total_rows * layers.hidden),
             carry_pass(layers), layers, chunks, run, ctx, nullptr);
    ++stage_;
    set_kept(LayerGroup::None);  // what was kept belongs to the stage passed
    if (ctx) ctx->progress(done += per_stage, stages * per_stage);
  }
  run_pass(be, &store, store.last_kept_point(), nullptr, capture_pass(store, target, layers), layers, chunks, run,
           ctx, after_chunk);
  if (ctx) ctx->progress(done + per_stage, stages * per_stage);
  return count_;
}

void StagedSamples::run_pass(Backend& be, ActivationStore* store, int64_t last_point, float* streams_out,
                             const Pass& pass, const LayerPoints& layers, const std::vector<StagedRows>& chunks,
                             const StagedChunkPass& run, TaskContext* ctx, const std::function<void()>& after_chunk) {
  const int64_t C = layers.hidden, total_rows = chunks.empty() ? 0 : chunks.back().first_row + chunks.back().rows;
  std::optional<HostStagingSink> staging;
  if (store) staging.emplace(be, *store);
  ActivationSink* sink = store ? &capture_sink(be, *store, *staging) : nullptr;
  // Only a pass that starts inside the encoder re-enters or keeps a layer's groups. One
  // that keeps overwrites the kept outputs chunk by chunk: they stand for nothing until it
  // has run to the end.
  const bool in_layer = stage_ >= 0 && stage_ < layers.num_layers;
  LayerGroup kept = LayerGroup::None;
  if (pass.keep) set_kept(LayerGroup::None);
  for (size_t k = 0; k < chunks.size(); ++k) {
    const StagedRows& c = chunks[k];
    if (ctx) ctx->check_cancelled();
    const float* stream = stage_ < 0 ? nullptr : streams_->get<float>() + c.first_row * C;
    LayerResume resume;
    if (in_layer) resume = chunk(be, pass, c.first_row, total_rows, layers);
    LayerResume* at = in_layer ? &resume : nullptr;
    if (store) {
      run(k, *sink, last_point, stage_, stream, at);
      store->commit(c.samples, nullptr);
      if (after_chunk) after_chunk();
      kept = resume.kept;
      continue;
    }
    StreamSink keep(be, size_t(last_point), streams_out + c.first_row * C, c.rows, C);
    run(k, keep, last_point, stage_, stream, at);
    TF_CHECK(keep.captured(), "staged samples: the stage's output was not produced");
  }
  if (pass.keep) set_kept(kept);
}

float* StagedSamples::streams(Backend& be, int64_t floats) {
  if (!streams_) streams_ = std::make_unique<DeviceBuffer>(be, size_t(floats) * sizeof(float));
  return streams_->get<float>();
}

void StagedSamples::check_write(int64_t s) {
  if (count_ > 0 && s < stage_)
    throw Error("write_parameters: the staged samples have passed the stage these parameters belong to");
  if (s == stage_) kept_current_ = false;
}

StagedSamples::Pass StagedSamples::capture_pass(const ActivationStore& store, int64_t stage,
                                               const LayerPoints& layers) const {
  Pass pass;
  const size_t first = size_t(store.first_kept_point()), last = size_t(store.last_kept_point());
  if (stage < 0 || layers.layer_of(first) != stage) return pass;
  const LayerGroup before = layers.group_before(layers.local(first));
  if (stage == stage_ && kept_current_ && kept_ != LayerGroup::None && int(kept_) <= int(before)) pass.enter = kept_;
  pass.keep = layers.layer_of(last) == stage && layers.group_columns(layers.local(last)).group != LayerGroup::None;
  return pass;
}

StagedSamples::Pass StagedSamples::carry_pass(const LayerPoints& layers) const {
  Pass pass;
  if (stage_ >= 0 && stage_ < layers.num_layers && kept_current_) pass.enter = kept_;
  return pass;
}

LayerResume StagedSamples::chunk(Backend& be, const Pass& pass, int64_t first_row, int64_t total_rows,
                                 const LayerPoints& layers) {
  LayerResume r;
  r.enter = pass.enter;
  r.keep = pass.keep;
  if (pass.enter == LayerGroup::None && !pass.keep) return r;
  const int64_t widest = layers.widest_group();
  if (!group_) {
    group_ = std::make_unique<DeviceBuffer>(be, size_t(total_rows * widest) * sizeof(float));
    residual_ = std::make_unique<DeviceBuffer>(be, size_t(total_rows * layers.hidden) * sizeof(float));
    zeros_ = std::make_unique<DeviceBuffer>(be, size_t(widest) * sizeof(float));
    be.zero(zeros_->get<float>(), widest);
  }
  // Each chunk's rows in a region of their own, sized for the widest group and packed
  // at the width of the group it holds: a chunk that re-enters one group and keeps a
  // wider one overwrites its own region only.
  r.group = group_->get<float>() + first_row * widest;
  r.residual = residual_->get<float>() + first_row * layers.hidden;
  r.zeros = zeros_->get<float>();
  return r;
}

void StagedSamples::set_kept(LayerGroup g) {
  kept_ = g;
  kept_current_ = g != LayerGroup::None;
}

bool StagedSamples::rescale_kept(Backend& be, const std::vector<std::string>& names,
                                 const std::vector<CapturePoint>& points, const std::vector<double>& scale,
                                 const std::vector<double>& shift, const LayerPoints& layers,
                                 const std::vector<StagedRows>& chunks) {
  const int64_t width = layers.group_width(kept_), widest = layers.widest_group();
  // scale and shift laid out as the group's columns; a NaN scale marks a column no point covers.
  std::vector<float> affine(size_t(2 * width), std::nanf(""));
  bool exact = kept_ != LayerGroup::None && !kept_current_;
  size_t from = 0;
  for (const std::string& name : names) {
    auto it = std::find_if(points.begin(), points.end(), [&](const CapturePoint& p) { return p.name == name; });
    if (it == points.end()) throw Error("rescale_staged: no capture point '" + name + "'");
    const size_t point = size_t(it - points.begin());
    TF_CHECK(scale.size() >= from + size_t(it->width) && shift.size() == scale.size(),
             "rescale_staged: scale and shift need one entry per neuron of the points");
    const GroupColumns part = layers.layer_of(point) == stage_ ? layers.group_columns(layers.local(point)) : GroupColumns{};
    exact = exact && part.group == kept_ && part.offset + it->width <= width;
    for (int64_t j = 0; j < it->width && exact; ++j) {
      float& a = affine[size_t(part.offset + j)];
      exact = std::isnan(a);  // not covered twice
      a = float(scale[from + size_t(j)]);
      affine[size_t(width + part.offset + j)] = float(shift[from + size_t(j)]);
    }
    from += size_t(it->width);
  }
  TF_CHECK(from == scale.size(), "rescale_staged: scale and shift need one entry per neuron of the points");
  for (int64_t j = 0; j < width && exact; ++j) exact = !std::isnan(affine[size_t(j)]);
  if (!exact) {
    set_kept(LayerGroup::None);
    return false;
  }
  DeviceBuffer dev(be, affine.size() * sizeof(float));
  dev.upload(affine.data());
  for (const StagedRows& c : chunks)
    be.scale_shift_columns(group_->get<float>() + c.first_row * widest, dev.get<float>(), dev.get<float>() + width,
                           c.rows, width);
  be.synchronize();  // before `dev` is freed
  kept_current_ = true;
  return true;
}

void write_parameter_range(Backend& be, float* params, int64_t total, int64_t offset, const float* data, int64_t count) {
  TF_CHECK(offset >= 0 && count >= 0 && offset + count <= total,
           "write_parameters: the range lies outside the parameter buffer");
  if (count > 0) be.copy_from_host(params + offset, data, size_t(count) * sizeof(float));
}

}  // namespace tf
