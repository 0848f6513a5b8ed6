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

// A chunk of staged samples as a model's passes run them: `samples` samples whose rows
// (tokens) are [first_row, first_row + rows) of the streams.
struct StagedRows {
  int64_t first_row = 0, rows = 0, samples = 0;
};

// Runs the model's forward pass on chunk `k` for a staged pass: from `stream` (the chunk's
// rows of the residual stream entering `stage`; null at stage -1, the model's own inputs),
// handing its capture points to `sink`, stopping right after `last_point`, re-entering or
// keeping a layer's group through `resume` (null outside the encoder's layers).
using StagedChunkPass = std::function<void(size_t k, ActivationSink& sink, int64_t last_point, int64_t stage,
                                           const float* stream, LayerResume* resume)>;

class StagedSamples {
 public:
  int64_t count() const { return count_; }
  // -1: at the inputs; s >= 0: the streams hold the residual stream entering stage s
  // (stage l: encoder layer l; stage num_layers: what follows the encoder).
  int64_t stage() const { return stage_; }
  bool carried() const { return stage_ >= 0; }
  void add(int64_t n);

  // Captures every staged sample into `store` (its kept points, no losses): carries the
  // streams, with the parameters as they are now, to the stage of the store's first kept
  // point, then runs that stage's pass into the store, chunk by chunk (`chunks`, `run`).
  // Throws when the store has no room for every sample (for one chunk with after_chunk,
  // which then gets the store after each chunk's commit and must empty it), keeps no
  // point, or keeps one of a stage the samples have passed (named from `points`). Inside
  // a layer a pass re-enters after the kept group and keeps the group it stops right
  // after (see below). Returns the samples captured.
  int64_t capture(Backend& be, ActivationStore& store, const std::vector<CapturePoint>& points,
                  const LayerPoints& layers, const std::vector<StagedRows>& chunks, const StagedChunkPass& run,
                  TaskContext* ctx, const std::function<void()>& after_chunk = nullptr);

  // Throws when the parameters of stage `s` may no longer change: the samples passed it.
  // A write to the stage the samples are at makes its kept group stale (see below).
  void check_write(int64_t s);

  // --- Re-entering the stage's layer (layer_resume.h) ---------------------------------
  // The samples may keep, for the stage they are at, the outputs of the last group a
  // capture stopped right after; they are current while the stage's parameters are not
  // written, or are written and then declared to rescale_kept.
  //
  // The kept group's output neurons were rescaled (W' = a W, b' = a b + c) and its
  // parameters written: its outputs follow, y' = a y + c. `names` are the rescaled points
  // (of `points`), scale and shift their a and c point after point. Returns false,
  // forgetting the kept outputs, unless the points are exactly the kept group's outputs
  // and its parameters were written since it was kept.
  bool rescale_kept(Backend& be, const std::vector<std::string>& names, const std::vector<CapturePoint>& points,
                    const std::vector<double>& scale, const std::vector<double>& shift, const LayerPoints& layers,
                    const std::vector<StagedRows>& chunks);
  // Forgets the kept outputs (a model whose chunks change lays them out anew).
  void forget_kept() { set_kept(LayerGroup::None); }

 private:
  // How a pass over the samples passes the layer it starts at: re-entering after the kept
  // group, and keeping the group it stops right after.
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
  // Every chunk from the stage the samples are at: into `store` (committed chunk by
  // chunk) when given, else keeping `last_point`, the stream leaving the stage, in
  // streams_out (in place: a chunk's stream is read before its last point is written).
  void run_pass(Backend& be, ActivationStore* store, int64_t last_point, float* streams_out, const Pass& pass,
                const LayerPoints& layers, const std::vector<StagedRows>& chunks, const StagedChunkPass& run,
                TaskContext* ctx, const std::function<void()>& after_chunk);
  // Chunk rows [first_row, first_row + rows) of such a pass (`total_rows` in all).
  LayerResume chunk(Backend& be, const Pass& pass, int64_t first_row, int64_t total_rows, const LayerPoints& layers);
  void set_kept(LayerGroup g);
  // The streams, `floats` of them, allocated in `be`'s memory on first use.
  float* streams(Backend& be, int64_t floats);

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
