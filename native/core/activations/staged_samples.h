// What VitModel and BertModel share in their staged passes (statistics repair, see
// VitModel::capture_staged): how far the staged samples have been carried, their
// residual streams, and the checks that keep those streams true to the model's
// parameters. The model keeps its own inputs (images, token ids) and runs the passes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "../backend.h"
#include "../task.h"
#include "activation_store.h"
#include "capture_point.h"

namespace tf {

class StagedSamples {
 public:
  int64_t count() const { return count_; }
  // -1: at the inputs; s >= 0: the streams hold the residual stream entering stage s.
  int64_t stage() const { return stage_; }
  bool carried() const { return stage_ >= 0; }
  void add(int64_t n);

  // The stage a capture into `store` starts at: that of the store's first kept point
  // (`stage_of`). Throws when the store has no room for every staged sample, keeps no
  // point, or keeps one of a stage the samples have passed (named from `points`).
  int64_t capture_stage(const ActivationStore& store, const std::vector<CapturePoint>& points,
                        const std::function<int64_t(size_t)>& stage_of) const;
  // Carries the samples to `target` with `advance` (one stage per call, which must leave
  // the next stage's streams in streams()), reporting count() samples per stage of
  // `total_stages`. Returns the progress reported so far.
  double carry_to(int64_t target, double total_stages, TaskContext* ctx, const std::function<void()>& advance);

  // The streams, `floats` of them, allocated in `be`'s memory on first use.
  float* streams(Backend& be, int64_t floats);
  const float* streams() const { return streams_ ? streams_->get<float>() : nullptr; }

  // Throws when the parameters of stage `s` may no longer change: the samples passed it.
  void check_write(int64_t s) const;

 private:
  int64_t count_ = 0;
  int64_t stage_ = -1;
  std::unique_ptr<DeviceBuffer> streams_;
};

// Copies `count` host floats over `params` (total floats, backend memory) from `offset`.
void write_parameter_range(Backend& be, float* params, int64_t total, int64_t offset, const float* data, int64_t count);

}  // namespace tf
