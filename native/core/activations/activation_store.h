// Captured activations of one model, kept in native memory for the fusion's cost
// matrices. Each entry is one module output as a contiguous row-major float32 matrix:
// rows = samples x kept tokens (sample-major), columns = neurons.
//
// Which rows an entry keeps (docs/fusion.md, "Activations"):
//   - average_tokens: one row per sample, the mean over all of its tokens (any filter
//     is then ignored, as in the reference);
//   - else, for full-sequence outputs with a filter set: only_cls keeps CLS; window k
//     keeps CLS then the central k x k patches of the grid in row-major order
//     (first row/column (grid - k) / 2, rounded down); outputs marked
//     cls_only_when_filtered keep CLS alone under either filter; position p (the
//     config's seq_pos) keeps token p of every full-sequence output;
//   - everything else keeps all its tokens.
// Padded points (text; CapturePoint::padded) keep a sample's real tokens only: the
// forward pass hands the store each batch's token mask first. Unfiltered, such an entry
// has as many rows per sample as the sample has real tokens (variable_rows); averaged,
// the mean is over the real tokens. Their byte size is planned for `max_tokens` tokens
// per sample (the longest sequence the caller will bring).
//
// Where the store lives: in the memory of the backend it is created on, which is the
// capturing model's (docs/fusion.md: activations are captured and consumed where they are
// computed). On a GPU the rows are chosen and averaged there (Backend::gather_mean_rows),
// the transforms run there, and cost matrices read the entries in place; each entry has
// its own device allocation, so release() frees it. On the CPU all entries share one
// buffer whose pages release() hands back. Losses and bookkeeping are host memory.
//
// Life cycle: capture batches (forward pass -> capture(...) per point -> commit), drop
// samples with keep(mask) (the loss threshold across models), then finalize(transform)
// once. The byte size is fixed when the store is created, from the capacity in samples,
// and a store over the memory limit is refused before anything is allocated.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "../backend.h"
#include "activation_transform.h"
#include "capture_point.h"

namespace tf {

enum class SequenceFilter { None, Window, OnlyCls, Position };

// Parses "none" | "only_cls" | "window_<k>" (k >= 1) | "position_<p>" (p >= 0; k or p into
// *window); throws tf::Error otherwise.
void parse_sequence_filter(const std::string& name, SequenceFilter* filter, int64_t* window);

struct ActivationStoreOptions {
  int64_t capacity = 0;  // samples
  SequenceFilter filter = SequenceFilter::None;
  int64_t window = 0;  // k of window_k, p of position_p
  bool average_tokens = false;
  uint64_t max_bytes = 0;  // 0: activation_limit(backend)
  // Padded points: the most tokens one sample may bring (0: the point's own count).
  int64_t max_tokens = 0;
  // Padded points kept token by token: the most real tokens all samples together may
  // bring (0: capacity x max_tokens). Short sequences then reserve only what they use.
  int64_t max_total_tokens = 0;
  // Keep only the points with these names (empty: every point). The others cost no memory
  // and are not entries of the store; their captures are ignored.
  std::vector<std::string> only;
};

struct ActivationEntry {
  std::string name;
  int64_t width = 0;
  int64_t source_tokens = 0;        // rows per sample in the model's output
  bool average = false;             // one averaged row per sample
  std::vector<int64_t> kept_tokens;  // token indices kept, in order (when !average)
  int64_t rows_per_sample = 0;  // the most rows a sample has (its exact count unless variable_rows)
  int64_t row_capacity = 0;     // rows the entry has room for: capacity x rows_per_sample, or max_total_tokens
  uint64_t offset = 0;  // in floats from the start of the store's buffer (CPU stores)
  bool padded = false;         // a padded point: only real tokens count
  bool variable_rows = false;  // padded and unreduced: one row per real token of each sample
  bool kept = true;     // false: left out by ActivationStoreOptions::only
  bool released = false;  // its memory was given back (ActivationStore::release)
};

// Half of the physical memory: the default ceiling for one store in host memory.
uint64_t default_activation_limit();
// The default ceiling for a store on `be`: the host's, and on a GPU also three quarters
// of its memory (the rest is for the model and its buffers).
uint64_t activation_limit(const Backend& be);

class ActivationStore final : public ActivationSink {
 public:
  struct Plan {
    std::vector<ActivationEntry> entries;
    uint64_t floats = 0;  // activations, capacity samples
    uint64_t bytes = 0;   // activations + per-sample losses
  };
  // The entries and byte size for `points` under `options`, without allocating.
  // Throws tf::Error for an unusable filter (window larger than the grid, ...).
  static Plan plan(const std::vector<CapturePoint>& points, const ActivationStoreOptions& options);

  // Allocates the store in `be`'s memory; throws tf::Error, naming the byte count and the
  // limit, when the plan exceeds options.max_bytes (or the default limit).
  ActivationStore(const std::vector<CapturePoint>& points, const ActivationStoreOptions& options,
                  Backend& be = cpu_backend());

  // --- shape ---------------------------------------------------------------------------
  size_t entry_count() const { return entries_.size(); }
  const ActivationEntry& entry(size_t i) const { return entries_.at(i); }
  // Index of the entry called `name`, or -1.
  int64_t find(const std::string& name) const;
  int64_t capacity() const { return capacity_; }
  int64_t num_samples() const { return num_samples_; }
  int64_t remaining() const { return capacity_ - num_samples_; }
  uint64_t bytes() const { return bytes_; }
  bool finalized() const { return finalized_; }
  ActivationTransform transform() const { return transform_; }
  // The backend whose memory holds the entries (data() pointers).
  Backend& backend() const { return *be_; }
  bool on_device() const { return be_->device() != Device::Cpu; }

  // --- the matrices, for native consumers (cost matrices) -------------------------------
  // Entry i as a rows(i) x cols(i) row-major matrix of the samples stored so far, in the
  // store's backend memory (device memory when on_device()).
  const float* data(size_t i) const { return entry_ptr(i); }
  float* mutable_data(size_t i) { return entry_ptr(i); }
  // Entry i copied into host memory (rows(i) x cols(i) floats at dst).
  void copy_to_host(size_t i, float* dst) const;
  int64_t rows(size_t i) const {
    const ActivationEntry& e = entries_.at(i);
    return e.variable_rows ? stored_tokens_ : num_samples_ * e.rows_per_sample;
  }
  int64_t cols(size_t i) const { return entries_.at(i).width; }
  // Per-sample losses of the stored samples (NaN where no labels were given).
  const float* losses() const { return losses_.data(); }
  // Real tokens of each stored sample (the rows it has in variable_rows entries); empty
  // when the store has no padded points.
  const std::vector<int64_t>& sample_tokens() const { return sample_tokens_; }

  // --- filling -------------------------------------------------------------------------
  // ActivationSink: files a batch's output of `point` for samples num_samples() ... +batch.
  // `data` is in the store's backend memory.
  void capture(size_t point, const float* data, int64_t batch, int64_t row_stride) override;
  // ActivationSink: the real tokens of the batch about to be captured.
  void token_mask(const uint8_t* mask, int64_t batch, int64_t tokens) override;
  // ActivationSink: the same for a packed batch (padded points bring real rows only).
  void packed_tokens(const uint8_t* mask, int64_t batch, int64_t tokens) override;
  // Rows per sample that capture(point, ...) reads from its data in the pending batch:
  // a padded point's are the sequence length token_mask gave.
  int64_t capture_tokens(size_t point) const {
    const ActivationEntry& e = entries_.at(point);
    return e.padded ? pending_length(e) : e.source_tokens;
  }
  // The last capture point this store keeps (points come in forward order): a forward
  // pass that computes nothing else for it (no losses) may stop there. -1: none kept.
  int64_t last_kept_point() const {
    for (size_t i = entries_.size(); i-- > 0;)
      if (entries_[i].kept) return int64_t(i);
    return -1;
  }
  // The first capture point this store keeps: a staged pass (VitModel::capture_staged)
  // may start at its stage. -1: none kept.
  int64_t first_kept_point() const {
    for (size_t i = 0; i < entries_.size(); ++i)
      if (entries_[i].kept) return int64_t(i);
    return -1;
  }
  // Rows that capture(point, data, batch, ...) reads from `data`: batch x capture_tokens,
  // or, for a padded point of a packed batch, the batch's real tokens.
  int64_t capture_rows(size_t point, int64_t batch) const {
    if (batch <= 0) return 0;
    if (pending_packed_ && entries_.at(point).padded) return pending_start(batch - 1) + pending_real(batch - 1);
    return batch * capture_tokens(point);
  }
  // Makes the last `count` captured samples part of the store, with their losses (null:
  // NaN). Every point must have been captured for them.
  void commit(int64_t count, const float* losses);
  // Keeps sample s when mask[s] != 0 (mask has num_samples() entries), preserving order.
  void keep(const uint8_t* mask, int64_t count);
  // Forgets every stored sample, keeping the memory: a store refilled chunk by chunk and
  // read after each (statistics repair's streamed measurements, fusion/column_moments.h).
  void clear();
  // Applies the transform to every entry, once; the store is read-only afterwards.
  void finalize(ActivationTransform t);

  MatrixStats stats(size_t i) const;

  // Gives entry i's memory back to the system once no consumer needs it (a fusion walk
  // that has passed its layer), so a run's footprint shrinks as it goes. Finalized stores
  // only; reading the entry afterwards throws.
  void release(size_t i);
  bool released(size_t i) const { return entries_.at(i).released; }

 private:
  float* entry_ptr(size_t i) const {
    const ActivationEntry& e = live_entry(i);
    return entry_buffers_.empty() ? buffer_->get<float>() + e.offset : entry_buffers_[i]->get<float>();
  }
  // The rows to keep of one captured batch as gather_mean_rows segments (`list`: the first
  // `offsets` entries are the offsets, the rest the indices), handed to the backend:
  // `list` itself on the CPU (the caller keeps it alive), an uploaded copy on a device.
  // Returns {offsets, indices} in the backend's memory.
  std::pair<const int32_t*, const int32_t*> stage_segments(const std::vector<int32_t>& list, size_t offsets);
  void keep_in_place(const std::vector<int64_t>& kept);
  void keep_on_device(const std::vector<int64_t>& kept);
  std::vector<int64_t> first_rows() const;  // of each stored sample in variable_rows entries, and the end
  void check_open(const char* what) const;
  const ActivationEntry& live_entry(size_t i) const;
  void start_batch(int64_t batch);
  // Tokens per sample of padded points in the pending batch, and sample b's real ones.
  int64_t pending_length(const ActivationEntry& e) const { return pending_tokens_ ? pending_tokens_ : e.source_tokens; }
  int64_t pending_real(int64_t b) const {
    if (!pending_counts_.empty()) return pending_counts_[size_t(b)];
    return pending_tokens_ ? pending_tokens_ : padded_tokens_;
  }
  // Where sample b's rows start within the pending batch of a variable_rows entry.
  int64_t pending_start(int64_t b) const {
    return pending_starts_.empty() ? b * pending_real(0) : pending_starts_[size_t(b)];
  }

  std::vector<ActivationEntry> entries_;
  int64_t capacity_ = 0;
  int64_t num_samples_ = 0;
  uint64_t bytes_ = 0;
  Backend* be_;
  std::unique_ptr<DeviceBuffer> buffer_;                     // CPU: every entry at its offset
  std::vector<std::unique_ptr<DeviceBuffer>> entry_buffers_;  // device: one per entry (null: not kept)
  std::vector<float> losses_;
  // Device stores: segment lists already uploaded, most recent last. A batch's few row
  // layouts repeat point after point and, without padding, batch after batch, so after
  // the first micro-batch a capture uploads nothing (and does not wait for the stream).
  struct StagedSegments {
    std::vector<int32_t> host;
    size_t offsets;
    std::unique_ptr<DeviceBuffer> device;
  };
  std::vector<StagedSegments> staged_;
  static constexpr size_t kStagedLists = 16;
  std::vector<uint8_t> captured_;  // which points hold data for the pending batch
  int64_t pending_batch_ = -1;
  // Padded points: the pending batch's sequence length (0 until token_mask), its mask,
  // real tokens per sample and their running sums (empty without a mask: all real).
  int64_t pending_tokens_ = 0;
  bool pending_packed_ = false;  // padded points' rows are the real tokens only, sample after sample
  std::vector<uint8_t> pending_mask_;
  std::vector<int64_t> pending_counts_, pending_starts_;
  bool has_padded_ = false;
  int64_t padded_tokens_ = 0;  // planned tokens per sample of the padded points
  std::vector<int64_t> sample_tokens_;
  int64_t stored_tokens_ = 0;
  bool finalized_ = false;
  ActivationTransform transform_ = ActivationTransform::None;
};

}  // namespace tf
