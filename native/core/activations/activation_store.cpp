#include "activation_store.h"

#include <unistd.h>
#ifdef __linux__
#include <sys/mman.h>
#endif

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <new>

#include "../error.h"
#include "../thread_pool.h"

namespace tf {

ActivationStore::ActivationStore(const std::vector<CapturePoint>& points, const ActivationStoreOptions& o, Backend& be)
    : capacity_(o.capacity), be_(&be) {
  Plan p = plan(points, o);
  const uint64_t limit = o.max_bytes ? o.max_bytes : activation_limit(be);
  const std::string where = on_device() ? std::string(" on ") + device_name(be.device()) : "";
  if (p.bytes > limit)
    throw Error("the activation store needs " + std::to_string(p.bytes) + " bytes for " + std::to_string(o.capacity) +
                " samples" + where + ", over the limit of " + std::to_string(limit) + " bytes");
  entries_ = std::move(p.entries);
  bytes_ = p.bytes;
  try {
    if (on_device()) {
      for (const auto& e : entries_)
        entry_buffers_.push_back(
            e.kept ? std::make_unique<DeviceBuffer>(be, size_t(e.row_capacity * e.width) * sizeof(float))
                   : nullptr);
    } else {
      buffer_ = std::make_unique<DeviceBuffer>(be, size_t(p.floats) * sizeof(float));
    }
  } catch (const std::bad_alloc&) {
    throw Error("could not allocate " + std::to_string(p.bytes) + " bytes for the activation store");
  } catch (const Error& e) {  // a device allocation that failed (out of GPU memory)
    throw Error("could not allocate " + std::to_string(p.bytes) + " bytes for the activation store" + where + ": " +
                e.what());
  }
  losses_.assign(size_t(capacity_), 0.0f);
  captured_.assign(entries_.size(), 0);
  for (const auto& e : entries_)
    if (e.padded) {
      has_padded_ = true;
      padded_tokens_ = e.source_tokens;
    }
}

int64_t ActivationStore::find(const std::string& name) const {
  for (size_t i = 0; i < entries_.size(); ++i)
    if (entries_[i].kept && entries_[i].name == name) return int64_t(i);
  return -1;
}

void ActivationStore::check_open(const char* what) const {
  if (finalized_) throw Error(std::string("activation store: cannot ") + what + " after finalize");
}

void ActivationStore::start_batch(int64_t batch) {
  captured_.assign(entries_.size(), 0);
  pending_batch_ = batch;
  pending_tokens_ = 0;
  pending_packed_ = false;
  pending_mask_.clear();
  pending_counts_.clear();
  pending_starts_.clear();
}

void ActivationStore::token_mask(const uint8_t* mask, int64_t batch, int64_t tokens) {
  check_open("capture");
  TF_CHECK(batch >= 0 && batch <= remaining(), "activation store: batch larger than the remaining capacity");
  TF_CHECK(tokens >= 1, "activation store: a batch needs at least one token per sample");
  start_batch(batch);
  if (has_padded_ && tokens > padded_tokens_)
    throw Error("activation store: a batch of " + std::to_string(tokens) + "-token sequences is longer than the " +
                std::to_string(padded_tokens_) + " tokens per sample the store was planned for");
  pending_tokens_ = tokens;
  if (!mask) return;
  pending_mask_.assign(mask, mask + batch * tokens);
  int64_t start = 0;
  for (int64_t b = 0; b < batch; ++b) {
    int64_t n = 0;
    for (int64_t t = 0; t < tokens; ++t) n += mask[b * tokens + t] != 0;
    pending_counts_.push_back(n);
    pending_starts_.push_back(start);
    start += n;
  }
}

void ActivationStore::packed_tokens(const uint8_t* mask, int64_t batch, int64_t tokens) {
  TF_CHECK(mask != nullptr, "activation store: a packed batch needs its mask");
  token_mask(mask, batch, tokens);
  // Packing keeps each sample's real tokens, which must be a prefix of its sequence.
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t t = pending_counts_[size_t(b)]; t < tokens; ++t)
      TF_CHECK(mask[b * tokens + t] == 0, "activation store: a packed batch's real tokens must come first in each sample");
  pending_packed_ = true;
}

std::pair<const int32_t*, const int32_t*> ActivationStore::stage_segments(const std::vector<int32_t>& list,
                                                                           size_t offsets) {
  const size_t total = list.size();
  const int32_t* host = list.data();
  if (!on_device()) return {host, host + offsets};
  auto found = std::find_if(staged_.begin(), staged_.end(), [&](const StagedSegments& s) {
    return s.offsets == offsets && s.host == list;
  });
  if (found == staged_.end()) {
    if (staged_.size() >= kStagedLists) {
      be_->synchronize();  // a queued gather may still read the oldest list
      staged_.erase(staged_.begin());
    }
    StagedSegments s{list, offsets, std::make_unique<DeviceBuffer>(*be_, total * sizeof(int32_t))};
    be_->copy_from_host(s.device->get(), host, total * sizeof(int32_t));
    staged_.push_back(std::move(s));
    found = staged_.end() - 1;
  }
  const int32_t* dev = found->device->get<int32_t>();
  return {dev, dev + offsets};
}

void ActivationStore::capture(size_t point, const float* data, int64_t batch, int64_t row_stride) {
  check_open("capture");
  TF_CHECK(point < entries_.size(), "activation store: capture point out of range");
  TF_CHECK(batch >= 0 && batch <= remaining(), "activation store: batch larger than the remaining capacity");
  if (pending_batch_ != batch) start_batch(batch);
  const ActivationEntry& e = entries_[point];
  captured_[point] = 1;
  if (!e.kept || batch == 0) return;
  // Rows per sample in `data`, and whether row t of sample b is a real token.
  const int64_t tokens = capture_tokens(point);
  TF_CHECK(batch * tokens <= std::numeric_limits<int32_t>::max(), "activation store: batch too large to capture");
  const bool masked = e.padded && !pending_mask_.empty();
  auto real = [&](int64_t b, int64_t t) { return !masked || pending_mask_[size_t(b * tokens + t)] != 0; };
  // Row of `data` where sample b's tokens start: padded or packed (real tokens only).
  const bool packed = e.padded && pending_packed_;
  auto first_of = [&](int64_t b) { return int32_t(packed ? pending_start(b) : b * tokens); };
  if (e.padded && !e.average && !e.variable_rows) {
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t t : e.kept_tokens)
        if (t >= tokens || !real(b, t))
          throw Error("activation store: '" + e.name + "' keeps token " + std::to_string(t) + ", which sample " +
                      std::to_string(b) + " of the batch does not have (padding)");
  }
  // Every kept row of the batch as a segment of source rows (row b * tokens + t of
  // `data`): one row per kept or real token, or all of a sample's real tokens to average.
  // The rows land in order right after the ones already stored.
  std::vector<int32_t> offsets = {0}, indices;
  for (int64_t b = 0; b < batch; ++b) {
    const int32_t first = first_of(b);
    if (e.average) {
      for (int64_t t = 0; t < tokens; ++t)
        if (real(b, t)) indices.push_back(first + int32_t(t));
      offsets.push_back(int32_t(indices.size()));
    } else if (e.variable_rows) {
      for (int64_t t = 0; t < tokens; ++t)
        if (real(b, t)) {
          indices.push_back(first + int32_t(t));
          offsets.push_back(int32_t(indices.size()));
        }
    } else {
      for (int64_t t : e.kept_tokens) {
        indices.push_back(first + int32_t(t));
        offsets.push_back(int32_t(indices.size()));
      }
    }
  }
  const int64_t segments = int64_t(offsets.size()) - 1;
  const size_t offset_count = offsets.size();
  std::vector<int32_t> list = std::move(offsets);  // offsets, then indices: one upload
  list.insert(list.end(), indices.begin(), indices.end());
  const auto [off, ind] = stage_segments(list, offset_count);
  const int64_t first_row = e.variable_rows ? stored_tokens_ : num_samples_ * e.rows_per_sample;
  if (first_row + segments > e.row_capacity)
    throw Error("activation store: the samples bring more than the " + std::to_string(e.row_capacity) +
                " real tokens the store was planned for ('" + e.name + "')");
  be_->gather_mean_rows(entry_ptr(point) + first_row * e.width, data, row_stride, e.width, off, ind, segments);
}

void ActivationStore::commit(int64_t count, const float* losses) {
  check_open("commit");
  TF_CHECK(count >= 0 && count <= remaining(), "activation store: commit beyond capacity");
  if (count == 0) return;
  TF_CHECK(pending_batch_ == count, "activation store: commit of a batch that was not captured");
  // Kept entries only: a pass may stop after the last of them (last_kept_point).
  for (size_t i = 0; i < captured_.size(); ++i)
    if (entries_[i].kept && !captured_[i])
      throw Error("activation store: '" + entries_[i].name + "' was not captured for this batch");
  for (int64_t s = 0; s < count; ++s)
    losses_[num_samples_ + s] = losses ? losses[s] : std::numeric_limits<float>::quiet_NaN();
  if (has_padded_)
    for (int64_t s = 0; s < count; ++s) {
      sample_tokens_.push_back(pending_real(s));
      stored_tokens_ += pending_real(s);
    }
  num_samples_ += count;
  start_batch(-1);
}

void ActivationStore::clear() {
  check_open("clear");
  num_samples_ = 0;
  sample_tokens_.clear();
  stored_tokens_ = 0;
  start_batch(-1);
}

void ActivationStore::keep(const uint8_t* mask, int64_t count) {
  check_open("keep samples");
  TF_CHECK(count == num_samples_, "activation store: keep mask must have one entry per stored sample");
  std::vector<int64_t> kept;
  for (int64_t s = 0; s < count; ++s)
    if (mask[s]) kept.push_back(s);
  if (int64_t(kept.size()) == count) return;
  const int64_t n = int64_t(kept.size());
  if (on_device()) {
    keep_on_device(kept);
  } else {
    keep_in_place(kept);
  }
  for (int64_t k = 0; k < n; ++k) losses_[size_t(k)] = losses_[size_t(kept[k])];
  if (has_padded_) {
    std::vector<int64_t> tokens;
    stored_tokens_ = 0;
    for (int64_t s : kept) {
      tokens.push_back(sample_tokens_[size_t(s)]);
      stored_tokens_ += sample_tokens_[size_t(s)];
    }
    sample_tokens_ = std::move(tokens);
  }
  num_samples_ = n;
}

// First row of each stored sample in variable_rows entries.
std::vector<int64_t> ActivationStore::first_rows() const {
  std::vector<int64_t> first_row(sample_tokens_.size() + 1, 0);
  for (size_t s = 0; s < sample_tokens_.size(); ++s) first_row[s + 1] = first_row[s] + sample_tokens_[s];
  return first_row;
}

void ActivationStore::keep_in_place(const std::vector<int64_t>& kept) {
  const int64_t n = int64_t(kept.size());
  const std::vector<int64_t> first_row = first_rows();
  parallel_for(int64_t(entries_.size()), 1, [&](int64_t e0, int64_t e1) {
    for (int64_t i = e0; i < e1; ++i) {
      const ActivationEntry& e = entries_[size_t(i)];
      if (!e.kept) continue;
      float* d = buffer_->get<float>() + e.offset;
      if (e.variable_rows) {
        // Samples move down in order, each to the end of the ones kept before it.
        int64_t row = 0;
        for (int64_t k = 0; k < n; ++k) {
          const int64_t s = kept[size_t(k)], len = sample_tokens_[size_t(s)];
          if (row != first_row[size_t(s)])
            std::memmove(d + row * e.width, d + first_row[size_t(s)] * e.width, size_t(len * e.width) * sizeof(float));
          row += len;
        }
        continue;
      }
      const int64_t block = e.rows_per_sample * e.width;
      // Moves only go towards lower addresses, in order, so memmove never overwrites a
      // sample before it has been moved.
      for (int64_t k = 0; k < n; ++k)
        if (kept[k] != k) std::memmove(d + k * block, d + kept[k] * block, size_t(block) * sizeof(float));
    }
  });
}

// A device cannot move rows in place in parallel without races: each entry's kept rows
// are gathered into a fresh allocation that then replaces the old one.
void ActivationStore::keep_on_device(const std::vector<int64_t>& kept) {
  const std::vector<int64_t> first_row = first_rows();
  for (size_t i = 0; i < entries_.size(); ++i) {
    const ActivationEntry& e = entries_[i];
    if (!e.kept) continue;
    TF_CHECK(rows(i) <= std::numeric_limits<int32_t>::max(), "activation store: '" + e.name + "' has too many rows");
    std::vector<int32_t> keep_rows;
    for (int64_t s : kept) {
      const int64_t begin = e.variable_rows ? first_row[size_t(s)] : s * e.rows_per_sample;
      const int64_t count = e.variable_rows ? sample_tokens_[size_t(s)] : e.rows_per_sample;
      for (int64_t r = begin; r < begin + count; ++r) keep_rows.push_back(int32_t(r));
    }
    DeviceBuffer index(*be_, keep_rows.size() * sizeof(int32_t));
    if (!keep_rows.empty()) index.upload(keep_rows.data());
    auto fresh = std::make_unique<DeviceBuffer>(*be_, entry_buffers_[i]->bytes());
    be_->gather_rows_indexed(fresh->get<float>(), entry_buffers_[i]->get<float>(), index.get<int32_t>(),
                             int64_t(keep_rows.size()), e.width);
    be_->synchronize();
    entry_buffers_[i] = std::move(fresh);
  }
}

void ActivationStore::finalize(ActivationTransform t) {
  check_open("finalize");
  if (t == ActivationTransform::Std) {
    for (size_t i = 0; i < entries_.size(); ++i)
      if (entries_[i].kept && rows(i) < 2)
        throw Error("the std transform needs at least 2 rows per activation, but '" + entries_[i].name + "' has " +
                    std::to_string(rows(i)) + " (" + std::to_string(num_samples_) + " samples)");
  }
  if (t != ActivationTransform::None)
    for (size_t i = 0; i < entries_.size(); ++i)
      if (entries_[i].kept) be_->activation_transform(mutable_data(i), rows(i), cols(i), t);
  be_->synchronize();
  transform_ = t;
  finalized_ = true;
}

const ActivationEntry& ActivationStore::live_entry(size_t i) const {
  const ActivationEntry& e = entries_.at(i);
  if (e.released) throw Error("activation '" + e.name + "' was released: its memory has been given back");
  if (!e.kept) throw Error("activation '" + e.name + "' is not kept by this store (left out by its 'only' list)");
  return e;
}

void ActivationStore::release(size_t i) {
  ActivationEntry& e = entries_.at(i);
  if (!finalized_) throw Error("activation store: release '" + e.name + "' only after finalize");
  if (e.released || !e.kept) return;
  e.released = true;
  if (on_device()) {
    entry_buffers_[i].reset();
    return;
  }
#ifdef __linux__
  // Only whole pages inside the entry: its neighbours share the pages at either end.
  const uintptr_t page = uintptr_t(sysconf(_SC_PAGESIZE));
  const uintptr_t begin = reinterpret_cast<uintptr_t>(buffer_->get<float>() + e.offset);
  const uintptr_t end = begin + uintptr_t(e.row_capacity * e.width) * sizeof(float);
  const uintptr_t first = (begin + page - 1) / page * page, last = end / page * page;
  if (last > first) madvise(reinterpret_cast<void*>(first), last - first, MADV_DONTNEED);  // advice: failure only costs memory
#endif
}

void ActivationStore::copy_to_host(size_t i, float* dst) const {
  const size_t count = size_t(rows(i) * cols(i));
  if (count) be_->copy_to_host(dst, data(i), count * sizeof(float));
}

MatrixStats ActivationStore::stats(size_t i) const {
  if (!on_device()) return matrix_stats(data(i), rows(i) * cols(i));
  std::vector<float> host(size_t(rows(i) * cols(i)));
  copy_to_host(i, host.data());
  return matrix_stats(host.data(), int64_t(host.size()));
}

}  // namespace tf
