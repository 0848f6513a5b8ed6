// What VitModel and BertModel share in their staged passes (statistics repair, see
// VitModel::capture_staged): how far the staged samples have been carried, their
// residual streams, and the checks that keep those streams true to the model's
// parameters. The model keeps its own inputs (images, token ids) and runs the passes.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "../backend.h"
#include "../task.h"
#include "activation_store.h"
#include "capture_point.h"
#include "layer_resume.h"

namespace tf {

class StagedSamples {
 public:
  int64_t count() const { return count_; }
  // -1: at the inputs; s >= 0: the streams hold the residual stream entering stage s.
  int64_t stage() const { return stage_; }
  bool carried() const { return stage_ >= 0; }
  void add(int64_t n);

  // The stage a capture into `store` starts at: that of the store's first kept point
  // (`stage_of`). Throws when the store has no room for `room` samples (every staged
  // sample, or one chunk of them for a store drained chunk by chunk), keeps no point, or
  // keeps one of a stage the samples have passed (named from `points`).
  int64_t capture_stage(const ActivationStore& store, const std::vector<CapturePoint>& points,
                        const std::function<int64_t(size_t)>& stage_of, int64_t room) const;
  // Carries the samples to `target` with `advance` (one stage per call, which must leave
  // the next stage's streams in streams()), reporting count() samples per stage of
  // `total_stages`. Returns the progress reported so far.
  double carry_to(int64_t target, double total_stages, TaskContext* ctx, const std::function<void()>& advance);

  // The streams, `floats` of them, allocated in `be`'s memory on first use.
  float* streams(Backend& be, int64_t floats);
  const float* streams() const { return streams_ ? streams_->get<float>() : nullptr; }

  // Throws when the parameters of stage `s` may no longer change: the samples passed it.
  // A write to the stage the samples are at makes its kept group stale (see below).
  void check_write(int64_t s);

  // --- Re-entering the stage's layer (layer_resume.h) ---------------------------------
  // The samples may keep, for the stage they are at, the outputs of the last group a
  // capture stopped right after; they are current while the stage's parameters are not
  // written, or are written and then declared to rescale_kept.
  LayerGroup kept() const { return kept_; }
  // How a pass over the samples passes the layer it starts at (`stage`): re-entering
  // after the kept group, and keeping the group it stops right after.
  struct Pass {
    LayerGroup enter = LayerGroup::None;
    bool keep = false;
  };
  // A capture into `store`, starting at `stage`: re-enters after the kept group when it is
  // current and the store needs nothing before it; keeps the group the store's last point
  // belongs to when that lies in the same layer.
  Pass capture_pass(const ActivationStore& store, int64_t stage, const LayerPoints& layers) const;
  // Carrying the samples through the stage they are at: re-enters after the kept group
  // when it is current.
  Pass carry_pass(const LayerPoints& layers) const;
  // Chunk [first_row, first_row + rows) of such a pass (`total_rows` in all).
  LayerResume chunk(Backend& be, const Pass& pass, int64_t first_row, int64_t total_rows, const LayerPoints& layers);
  // After a pass over every sample: the group its chunks kept (None: nothing kept).
  void set_kept(LayerGroup g);
  // The kept group's output neurons were rescaled (W' = a W, b' = a b + c) and its
  // parameters written: its outputs follow, y' = a y + c. `names` are the rescaled points
  // (of `points`), scale and shift their a and c point after point; `chunks` the passes'
  // (first row, rows). Returns false, forgetting the kept outputs, unless the points are
  // exactly the kept group's outputs and its parameters were written since it was kept.
  bool rescale_kept(Backend& be, const std::vector<std::string>& names, const std::vector<CapturePoint>& points,
                    const std::vector<double>& scale, const std::vector<double>& shift, const LayerPoints& layers,
                    const std::vector<std::pair<int64_t, int64_t>>& chunks);

 private:
  int64_t count_ = 0;
  int64_t stage_ = -1;
  std::unique_ptr<DeviceBuffer> streams_;
  LayerGroup kept_ = LayerGroup::None;
  bool kept_current_ = false;
  std::unique_ptr<DeviceBuffer> group_, residual_, zeros_;
};

// Copies `count` host floats over `params` (total floats, backend memory) from `offset`.
void write_parameter_range(Backend& be, float* params, int64_t total, int64_t offset, const float* data, int64_t count);

}  // namespace tf
