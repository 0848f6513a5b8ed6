#include "staged_samples.h"

#include <string>

#include "../error.h"

namespace tf {

void StagedSamples::add(int64_t n) {
  TF_CHECK(!carried() && !streams_, "stage_samples: the staged samples were captured already");
  TF_CHECK(n >= 0, "stage_samples: negative count");
  count_ += n;
}

int64_t StagedSamples::capture_stage(const ActivationStore& store, const std::vector<CapturePoint>& points,
                                     const std::function<int64_t(size_t)>& stage_of) const {
  TF_CHECK(count_ > 0, "capture_staged: no staged samples");
  if (store.remaining() < count_)
    throw Error("capture_staged: the store has room for " + std::to_string(store.remaining()) + " samples, " +
                std::to_string(count_) + " are staged");
  const int64_t first = store.first_kept_point();
  TF_CHECK(first >= 0, "capture_staged: the store keeps no capture point");
  const int64_t target = stage_of(size_t(first));
  if (target < stage_)
    throw Error("capture_staged: the staged samples have passed '" + points.at(size_t(first)).name + "'");
  return target;
}

double StagedSamples::carry_to(int64_t target, double total_stages, TaskContext* ctx,
                               const std::function<void()>& advance) {
  double done = 0;
  while (stage_ < target) {
    advance();
    ++stage_;
    if (ctx) ctx->progress(done += double(count_), total_stages * double(count_));
  }
  return done;
}

float* StagedSamples::streams(Backend& be, int64_t floats) {
  if (!streams_) streams_ = std::make_unique<DeviceBuffer>(be, size_t(floats) * sizeof(float));
  return streams_->get<float>();
}

void StagedSamples::check_write(int64_t s) const {
  if (count_ > 0 && s < stage_)
    throw Error("write_parameters: the staged samples have passed the stage these parameters belong to");
}

void write_parameter_range(Backend& be, float* params, int64_t total, int64_t offset, const float* data, int64_t count) {
  TF_CHECK(offset >= 0 && count >= 0 && offset + count <= total,
           "write_parameters: the range lies outside the parameter buffer");
  if (count > 0) be.copy_from_host(params + offset, data, size_t(count) * sizeof(float));
}

}  // namespace tf
