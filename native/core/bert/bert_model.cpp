#include "bert_model.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "../activations/host_staging_sink.h"
#include "../error.h"
#include "bert_batch.h"
#include "bert_capture.h"
#include "bert_forward.h"

namespace tf {

BertModel::BertModel(const BertConfig& config, Backend& backend, const float* params, int64_t count,
                     const std::vector<std::string>& point_names)
    : config_(config),
      layout_(config),
      backend_(&backend),
      points_(bert_capture_points(config)),
      layer_points_(bert_layer_points(config)) {
  if (count != layout_.total())
    throw Error("BERT parameters: expected " + std::to_string(layout_.total()) + " floats for this config, got " +
                std::to_string(count));
  if (!point_names.empty()) {
    if (point_names.size() != points_.size())
      throw Error("BERT capture names: expected " + std::to_string(points_.size()) + " names, got " +
                  std::to_string(point_names.size()));
    for (size_t i = 0; i < points_.size(); ++i) points_[i].name = point_names[i];
  }
  params_ = std::make_unique<DeviceBuffer>(backend, size_t(count) * sizeof(float));
  params_->upload(params);
}

void BertModel::set_micro_batch(int64_t n) {
  TF_CHECK(n >= 0, "micro batch must not be negative");
  std::lock_guard<std::mutex> lock(mutex_);
  if (n != micro_batch_) buffers_.reset();
  micro_batch_ = n;
}

int64_t BertModel::chunk_size(int64_t tokens) const {
  if (micro_batch_ > 0) return micro_batch_;
  return std::max<int64_t>(1, kMicroBatchRows / std::max<int64_t>(tokens, 1));
}

BertBuffers& BertModel::buffers_for(int64_t batch, int64_t tokens) {
  if (!buffers_ || !buffers_->fits(batch, tokens)) {
    // Grow to cover both the old and the new shape, so alternating lengths do not reallocate.
    const int64_t b = buffers_ ? std::max(batch, buffers_->batch()) : batch;
    const int64_t t = buffers_ ? std::max(tokens, buffers_->tokens()) : tokens;
    buffers_.reset();
    buffers_ = std::make_unique<BertBuffers>(*backend_, config_, b, t, 1);
  }
  return *buffers_;
}

float* BertModel::logits_buffer(int64_t rows) {
  const int64_t width = config_.masked_lm() ? config_.vocab_size : config_.num_labels;
  const size_t bytes = size_t(std::max<int64_t>(rows, 1) * width) * sizeof(float);
  if (!logits_ || logits_->bytes() < bytes) {
    logits_.reset();
    logits_ = std::make_unique<DeviceBuffer>(*backend_, bytes);
  }
  return logits_->get<float>();
}

void BertModel::check_inputs(const BertInputs& in, const int32_t* labels) const {
  check_bert_inputs(config_, in, labels);
}

void check_bert_inputs(const BertConfig& c, const BertInputs& in, const int32_t* labels) {
  if (in.count < 0) throw Error("BERT inputs: negative sequence count");
  if (in.tokens < 1) throw Error("BERT inputs: sequences need at least one token");
  if (in.tokens > c.max_positions)
    throw Error("BERT inputs: sequences of " + std::to_string(in.tokens) + " tokens are longer than the model's " +
                std::to_string(c.max_positions) + " positions (max_position_embeddings)");
  auto where = [&](int64_t r) {
    return "sample " + std::to_string(r / in.tokens) + ", position " + std::to_string(r % in.tokens);
  };
  const int64_t R = in.count * in.tokens;
  for (int64_t r = 0; r < R; ++r) {
    if (in.ids[r] < 0 || in.ids[r] >= c.vocab_size)
      throw Error("BERT inputs: token id " + std::to_string(in.ids[r]) + " at " + where(r) +
                  " is outside the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
    if (in.type_ids && (in.type_ids[r] < 0 || in.type_ids[r] >= c.type_vocab_size))
      throw Error("BERT inputs: token type " + std::to_string(in.type_ids[r]) + " at " + where(r) +
                  " is outside [0, " + std::to_string(c.type_vocab_size) + ") (type_vocab_size)");
    if (in.mask && in.mask[r] > 1)
      throw Error("BERT inputs: attention mask value " + std::to_string(in.mask[r]) + " at " + where(r) +
                  " is neither 0 nor 1");
  }
  if (in.mask) {
    for (int64_t s = 0; s < in.count; ++s) {
      bool any = false;
      for (int64_t t = 0; t < in.tokens && !any; ++t) any = in.mask[s * in.tokens + t] != 0;
      if (!any) throw Error("BERT inputs: sample " + std::to_string(s) + " has no real token (its attention mask is all 0)");
    }
  }
  if (!labels) return;
  if (c.masked_lm()) {
    for (int64_t r = 0; r < R; ++r)
      if (labels[r] != kIgnoreLabel && (labels[r] < 0 || labels[r] >= c.vocab_size))
        throw Error("BERT labels: label " + std::to_string(labels[r]) + " at " + where(r) +
                    " is neither -100 nor in the vocabulary [0, " + std::to_string(c.vocab_size) + ")");
  } else {
    for (int64_t s = 0; s < in.count; ++s)
      if (labels[s] < 0 || labels[s] >= c.num_labels)
        throw Error("BERT labels: label " + std::to_string(labels[s]) + " of sample " + std::to_string(s) +
                    " is outside [0, " + std::to_string(c.num_labels) + ")");
  }
}

void BertModel::run_chunk(const BertInputs& in, const int32_t* labels, const BertOutputs& out, ActivationSink* sink,
                          float* sample_losses, const TaskContext* ctx, int64_t last_point, int64_t start_layer,
                          const float* stream, LayerResume* resume) {
  Backend& be = *backend_;
  const bool on_host = be.device() == Device::Cpu;
  const int64_t B = in.count, T = in.tokens, R = B * T;
  BertBuffers& buf = buffers_for(B, T);
  // Padding whose outputs nobody reads (no masked-LM logits; a capture files real tokens
  // only) is left out altogether on the CPU: the batch is packed (see bert_batch_starts).
  std::vector<int64_t> starts;
  if (!(config_.masked_lm() && out.logits)) starts = bert_batch_starts(be, in, config_.masked_lm() ? labels : nullptr);
  const BertBatch batch = upload_bert_batch(be, buf, in, starts);
  const int64_t rows = batch.rows();
  // A staged pass: the stream enters the first layer from buf.embed.
  if (start_layer >= 0) be.gather_rows(buf.embed, stream, rows, config_.hidden_size, config_.hidden_size);

  // A classifier's inference needs the last layer for [CLS] only.
  const bool cls_only = !config_.masked_lm() && !sink;
  const float* params = params_->get<float>();
  const float* hidden =
      bert_encoder_forward(be, config_, layout_, params, buf, batch, sink, ctx, cls_only, last_point, start_layer, resume);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  if (!hidden) {  // stopped after last_point: no head, no losses (no labels asked for them)
    if (sample_losses) std::fill(sample_losses, sample_losses + B, nan);
    return;
  }

  if (!config_.masked_lm()) {
    const int64_t L = config_.num_labels;
    // Packed with every token kept (a capture), each sample's [CLS] row is its first packed row.
    const bool packed_rows = !starts.empty() && !cls_only;
    bert_classifier_head_forward(be, config_, layout_, params, buf, hidden, B, cls_only ? 1 : T, sink,
                                 packed_rows ? batch.device_starts : nullptr);
    if (labels) be.copy_from_host(buf.labels, labels, size_t(B) * sizeof(int32_t));
    be.softmax_cross_entropy_forward(labels ? buf.losses : nullptr, buf.predictions, buf.class_logits,
                                     labels ? buf.labels : nullptr, B, L);
    std::vector<float> losses(size_t(B), nan);
    if (labels) be.copy_to_host(losses.data(), buf.losses, size_t(B) * sizeof(float));
    if (out.logits) be.copy_to_host(out.logits, buf.class_logits, size_t(B * L) * sizeof(float));
    if (out.predictions) be.copy_to_host(out.predictions, buf.predictions, size_t(B) * sizeof(int32_t));
    if (out.losses) std::copy(losses.begin(), losses.end(), out.losses);
    if (sample_losses) std::copy(losses.begin(), losses.end(), sample_losses);
    return;
  }

  // Masked LM. The transform runs on every row when logits are wanted, when a capture
  // records it, or when only predictions are asked for; the decoder (the costly part:
  // vocabulary-wide rows) on every row only for logits or predictions, else on the
  // labelled tokens alone.
  const int64_t V = config_.vocab_size;
  std::vector<float> token_losses(size_t(R), nan);
  std::vector<int32_t> token_predictions(size_t(R), -1);
  const bool decode_all = out.logits || (!labels && out.predictions);
  const bool transform_all = decode_all || sink;
  if (transform_all) bert_mlm_transform_forward(be, config_, layout_, params, buf, hidden, nullptr, rows, sink, B);
  if (decode_all) {
    float* logits = on_host && out.logits ? out.logits : logits_buffer(rows);
    bert_mlm_decoder_forward(be, config_, layout_, params, buf.head_ln, rows, logits);
    // Losses and argmax cost a pass over every logit: only when someone reads them.
    if (labels || out.predictions) {
      if (labels) be.copy_from_host(buf.labels, labels, size_t(R) * sizeof(int32_t));  // unpacked: rows == R
      be.softmax_cross_entropy_forward(labels ? buf.losses : nullptr, buf.predictions, logits,
                                       labels ? buf.labels : nullptr, rows, V);
      std::vector<float> row_losses(static_cast<size_t>(rows), nan);
      std::vector<int32_t> row_predictions(static_cast<size_t>(rows));
      if (labels) be.copy_to_host(row_losses.data(), buf.losses, size_t(rows) * sizeof(float));
      be.copy_to_host(row_predictions.data(), buf.predictions, size_t(rows) * sizeof(int32_t));
      // Predictions alone leave padding undecoded (-1), whether the batch was packed (no
      // row there) or kept whole with a mask (a device backend: rows decoded, not read).
      const bool padding_undecoded = !out.logits && in.mask;
      for (int64_t r = 0; r < R; ++r) {
        const int64_t h = batch.row_of(r);
        if (h < 0 || (padding_undecoded && !in.mask[r])) continue;
        token_losses[size_t(r)] = row_losses[size_t(h)];
        token_predictions[size_t(r)] = row_predictions[size_t(h)];
      }
    }
    if (out.logits && logits != out.logits) be.copy_to_host(out.logits, logits, size_t(R * V) * sizeof(float));
  } else if (labels) {
    std::vector<int32_t> tokens, hidden_rows, row_labels;
    for (int64_t r = 0; r < R; ++r)
      if (labels[r] != kIgnoreLabel) {
        tokens.push_back(int32_t(r));
        hidden_rows.push_back(int32_t(batch.row_of(r)));
        row_labels.push_back(labels[r]);
      }
    const int64_t n = int64_t(tokens.size());
    if (n > 0) {
      be.copy_from_host(buf.row_index, hidden_rows.data(), size_t(n) * sizeof(int32_t));
      be.copy_from_host(buf.labels, row_labels.data(), size_t(n) * sizeof(int32_t));
      const float* decoder_in;
      if (transform_all) {
        // Transformed for the capture already: pick the labelled rows of its output.
        be.gather_rows_indexed(buf.head_rows, buf.head_ln, buf.row_index, n, config_.hidden_size);
        decoder_in = buf.head_rows;
      } else {
        bert_mlm_transform_forward(be, config_, layout_, params, buf, hidden, buf.row_index, n, nullptr, B);
        decoder_in = buf.head_ln;
      }
      float* logits = logits_buffer(n);
      bert_mlm_decoder_forward(be, config_, layout_, params, decoder_in, n, logits);
      be.softmax_cross_entropy_forward(buf.losses, buf.predictions, logits, buf.labels, n, V);
      std::vector<float> row_losses(static_cast<size_t>(n));
      std::vector<int32_t> row_predictions(static_cast<size_t>(n));
      be.copy_to_host(row_losses.data(), buf.losses, size_t(n) * sizeof(float));
      be.copy_to_host(row_predictions.data(), buf.predictions, size_t(n) * sizeof(int32_t));
      for (int64_t k = 0; k < n; ++k) {
        token_losses[size_t(tokens[size_t(k)])] = row_losses[size_t(k)];
        token_predictions[size_t(tokens[size_t(k)])] = row_predictions[size_t(k)];
      }
    }
  }
  if (out.losses) std::copy(token_losses.begin(), token_losses.end(), out.losses);
  if (out.predictions) std::copy(token_predictions.begin(), token_predictions.end(), out.predictions);
  if (sample_losses) {
    for (int64_t s = 0; s < B; ++s) {
      double sum = 0;
      int64_t n = 0;
      for (int64_t t = 0; t < T; ++t) {
        const float l = token_losses[size_t(s * T + t)];
        if (!std::isnan(l)) sum += l, ++n;
      }
      sample_losses[s] = n ? float(sum / double(n)) : nan;
    }
  }
}

void BertModel::forward(const BertInputs& in, const int32_t* labels, const BertOutputs& out, TaskContext* ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  check_inputs(in, labels);
  const int64_t T = in.tokens, chunk = chunk_size(T);
  const bool mlm = config_.masked_lm();
  const int64_t per_logits = mlm ? T * config_.vocab_size : config_.num_labels, per_result = mlm ? T : 1;
  for (int64_t i = 0; i < in.count; i += chunk) {
    if (ctx) ctx->check_cancelled();
    BertInputs sub = in;
    sub.count = std::min(chunk, in.count - i);
    sub.ids = in.ids + i * T;
    if (in.type_ids) sub.type_ids = in.type_ids + i * T;
    if (in.mask) sub.mask = in.mask + i * T;
    BertOutputs o;
    if (out.logits) o.logits = out.logits + i * per_logits;
    if (out.losses) o.losses = out.losses + i * per_result;
    if (out.predictions) o.predictions = out.predictions + i * per_result;
    run_chunk(sub, labels ? labels + i * per_result : nullptr, o, nullptr, nullptr, ctx);
    if (ctx) ctx->progress(double(i + sub.count), double(in.count));
  }
}

void BertModel::check_store(const ActivationStore& store) const {
  TF_CHECK(store.entry_count() == points_.size(), "activation store was planned for a different model");
  for (size_t i = 0; i < points_.size(); ++i) {
    const ActivationEntry& e = store.entry(i);
    if (e.width != points_[i].width || e.padded != points_[i].padded)
      throw Error("activation store entry '" + e.name + "' does not match this model's '" + points_[i].name + "'");
  }
}

int64_t BertModel::capture(ActivationStore& store, const BertInputs& in, const int32_t* labels, TaskContext* ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  check_store(store);
  check_inputs(in, labels);
  const int64_t T = in.tokens, chunk = chunk_size(T);
  const int64_t per_label = config_.masked_lm() ? T : 1;
  const int64_t take = std::min(in.count, store.remaining());
  std::vector<float> losses(size_t(std::min(chunk, std::max<int64_t>(take, 1))));
  // The store lives where this model runs, or on the host (copied over), as for the ViT.
  HostStagingSink staging(*backend_, store);
  ActivationSink& sink = capture_sink(*backend_, store, staging);
  // Without labels (no losses to compute), nothing past the store's last kept point runs.
  const int64_t last_point = labels ? -1 : store.last_kept_point();
  for (int64_t i = 0; i < take; i += chunk) {
    if (ctx) ctx->check_cancelled();
    BertInputs sub = in;
    sub.count = std::min(chunk, take - i);
    sub.ids = in.ids + i * T;
    if (in.type_ids) sub.type_ids = in.type_ids + i * T;
    if (in.mask) sub.mask = in.mask + i * T;
    run_chunk(sub, labels ? labels + i * per_label : nullptr, BertOutputs{}, &sink, losses.data(), ctx, last_point);
    store.commit(sub.count, labels ? losses.data() : nullptr);
    if (ctx) ctx->progress(double(i + sub.count), double(take));
  }
  return take;
}

void BertModel::read_parameters(float* params) const {
  std::lock_guard<std::mutex> lock(mutex_);
  params_->download(params);
}

int64_t BertModel::stage_of_parameter(int64_t offset) const {
  int64_t stage = -1;
  for (int64_t l = 0; l < config_.num_layers && offset >= layout_.layers[size_t(l)].qkv_w; ++l) stage = l;
  const BertLayerOffsets& last = layout_.layers.back();
  return offset >= last.out_ln_b + config_.hidden_size ? config_.num_layers : stage;
}

void BertModel::write_parameters(int64_t offset, const float* data, int64_t count) {
  std::lock_guard<std::mutex> lock(mutex_);
  staged_.check_write(stage_of_parameter(offset));
  write_parameter_range(*backend_, params_->get<float>(), layout_.total(), offset, data, count);
}

void BertModel::stage_samples(const BertInputs& in) {
  std::lock_guard<std::mutex> lock(mutex_);
  check_inputs(in, nullptr);
  staged_.add(in.count);
  const int64_t T = in.tokens, chunk = chunk_size(T);
  for (int64_t i = 0; i < in.count; i += chunk) {
    StagedChunk c;
    c.count = std::min(chunk, in.count - i);
    c.tokens = T;
    const int64_t from = i * T, to = (i + c.count) * T;
    c.ids.assign(in.ids + from, in.ids + to);
    if (in.type_ids) c.type_ids.assign(in.type_ids + from, in.type_ids + to);
    if (in.mask) c.mask.assign(in.mask + from, in.mask + to);
    // The rows its passes lay out (packed where this backend packs), as run_chunk decides.
    const std::vector<int64_t> starts = bert_batch_starts(*backend_, c.inputs(), nullptr);
    c.rows = starts.empty() ? c.count * T : starts.back();
    c.first_row = staged_rows();
    staged_chunks_.push_back(std::move(c));
  }
}

void BertModel::clear_staged() {
  std::lock_guard<std::mutex> lock(mutex_);
  staged_ = StagedSamples{};
  staged_chunks_.clear();
}

int64_t BertModel::staged_rows() const {
  return staged_chunks_.empty() ? 0 : staged_chunks_.back().first_row + staged_chunks_.back().rows;
}

int64_t BertModel::staged_count() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return staged_.count();
}

int64_t BertModel::staged_stage() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return staged_.stage();
}

std::vector<StagedRows> BertModel::staged_row_chunks() const {
  std::vector<StagedRows> chunks;
  for (const StagedChunk& c : staged_chunks_) chunks.push_back({c.first_row, c.rows, c.count});
  return chunks;
}

ActivationStoreOptions BertModel::staged_chunk_options() const {
  std::lock_guard<std::mutex> lock(mutex_);
  ActivationStoreOptions o;
  o.capacity = 1;
  o.max_tokens = 1;
  for (const StagedChunk& c : staged_chunks_) {
    const int64_t real = c.mask.empty() ? c.count * c.tokens
                                        : int64_t(std::count_if(c.mask.begin(), c.mask.end(), [](uint8_t m) { return m != 0; }));
    o.capacity = std::max(o.capacity, c.count);
    o.max_tokens = std::max(o.max_tokens, c.tokens);
    o.max_total_tokens = std::max(o.max_total_tokens, real);
  }
  return o;
}

int64_t BertModel::capture_staged(ActivationStore& store, TaskContext* ctx, const std::function<void()>& after_chunk) {
  std::lock_guard<std::mutex> lock(mutex_);
  check_store(store);
  auto run = [&](size_t k, ActivationSink& sink, int64_t last_point, int64_t stage, const float* stream,
                 LayerResume* resume) {
    run_chunk(staged_chunks_[k].inputs(), nullptr, BertOutputs{}, &sink, nullptr, ctx, last_point, stage, stream,
              resume);
  };
  return staged_.capture(*backend_, store, points_, layer_points_, staged_row_chunks(), run, ctx, after_chunk);
}

bool BertModel::rescale_staged(const std::vector<std::string>& names, const std::vector<double>& scale,
                               const std::vector<double>& shift) {
  std::lock_guard<std::mutex> lock(mutex_);
  return staged_.rescale_kept(*backend_, names, points_, scale, shift, layer_points_, staged_row_chunks());
}

}  // namespace tf
