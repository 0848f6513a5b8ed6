#include "bert_trainer.h"

#include <algorithm>
#include <cmath>

#include "../bert/bert_batch.h"
#include "../bert/bert_forward.h"
#include "../error.h"

namespace tf {

BertTrainer::BertTrainer(const BertConfig& config, Backend& backend, const float* params, int64_t count,
                         int64_t batch_capacity, int64_t micro_batch, int64_t max_tokens)
    : config_(config), layout_(config), backend_(&backend), capacity_(batch_capacity),
      micro_batch_(std::min(micro_batch, batch_capacity)), max_tokens_(max_tokens) {
  if (count != layout_.total())
    throw Error("BERT parameters: expected " + std::to_string(layout_.total()) + " floats for this config, got " +
                std::to_string(count));
  TF_CHECK(batch_capacity >= 1, "trainer: the batch size must be at least 1");
  TF_CHECK(micro_batch >= 1, "trainer: the micro-batch must be at least 1");
  if (max_tokens < 1 || max_tokens > config.max_positions)
    throw Error("trainer: max_tokens " + std::to_string(max_tokens) + " must lie in [1, " +
                std::to_string(config.max_positions) + "] (max_position_embeddings)");
  state_ = std::make_unique<TrainState>(backend, layout_.tensors(), params, count);
  const int64_t rows = micro_batch_ * max_tokens_;
  buffers_ = std::make_unique<BertBuffers>(backend, config_, micro_batch_, max_tokens_, config_.num_layers);
  grad_buffers_ = std::make_unique<BertGradBuffers>(backend, config_, micro_batch_, max_tokens_, rows);
  if (config_.masked_lm())
    logits_ = std::make_unique<DeviceBuffer>(backend, size_t(rows * config_.vocab_size) * sizeof(float));
}

void BertTrainer::configure(const TrainerConfig& config) {
  check_optimizer_config(config);
  TF_CHECK(!config.augment, "trainer: a BERT has no image augmentation");
  std::lock_guard<std::mutex> lock(mutex_);
  cfg_ = config;
}

void BertTrainer::check(const BertInputs& in, const int32_t* labels) const {
  if (in.count < 1 || in.count > capacity_)
    throw Error("train step: between 1 and " + std::to_string(capacity_) + " sequences per step, got " +
                std::to_string(in.count));
  if (in.tokens > max_tokens_)
    throw Error("train step: sequences of " + std::to_string(in.tokens) + " tokens are longer than the trainer's " +
                std::to_string(max_tokens_) + " (max tokens)");
  TF_CHECK(labels != nullptr, "train step: labels are required");
  check_bert_inputs(config_, in, labels);
}

void BertTrainer::run_micro_batch(const BertInputs& in, const int32_t* labels, float scale, BertStepResult& r,
                                  TaskContext* ctx) {
  Backend& be = *backend_;
  const BertConfig& c = config_;
  const int64_t B = in.count, T = in.tokens, R = B * T;
  BertBuffers& buf = *buffers_;
  BertGradBuffers& g = *grad_buffers_;
  const float* params = state_->params();
  float* grads = state_->grads();

  // Padding is skipped (a packed batch, on the CPU: see bert_batch_starts) when every
  // sample's real tokens come first and no label sits on padding; a labelled token's row
  // is then its packed row (batch.row_of).
  const std::vector<int64_t> starts = bert_batch_starts(*backend_, in, c.masked_lm() ? labels : nullptr);
  const BertBatch batch = upload_bert_batch(be, buf, in, starts);

  // Masked LM: the labelled rows, the only ones the head decodes. None: no gradient.
  std::vector<int32_t> rows, row_labels;
  if (c.masked_lm()) {
    for (int64_t k = 0; k < R; ++k)
      if (labels[k] != kIgnoreLabel) {
        rows.push_back(int32_t(batch.row_of(k)));
        row_labels.push_back(labels[k]);
      }
    if (rows.empty()) return;
  }

  const float* hidden = bert_encoder_forward(be, c, layout_, params, buf, batch, nullptr, ctx, false);
  if (ctx) ctx->check_cancelled();

  int64_t n;
  if (c.masked_lm()) {
    n = int64_t(rows.size());
    const int64_t V = c.vocab_size;
    be.copy_from_host(buf.row_index, rows.data(), size_t(n) * sizeof(int32_t));
    be.copy_from_host(buf.labels, row_labels.data(), size_t(n) * sizeof(int32_t));
    bert_mlm_transform_forward(be, c, layout_, params, buf, hidden, buf.row_index, n, nullptr, B);
    float* logits = logits_->get<float>();
    bert_mlm_decoder_forward(be, c, layout_, params, buf.head_ln, n, logits);
    be.softmax_cross_entropy_forward(nullptr, buf.predictions, logits, nullptr, n, V);
    be.cross_entropy_backward(g.dlogits, buf.losses, logits, buf.labels, n, V, cfg_.label_smoothing, scale);
    bert_mlm_head_backward(be, c, layout_, params, grads, buf, g, buf.row_index, n, batch.rows());
  } else {
    n = B;
    be.copy_from_host(buf.labels, labels, size_t(B) * sizeof(int32_t));
    row_labels.assign(labels, labels + B);
    bert_classifier_head_forward(be, c, layout_, params, buf, hidden, B, T, nullptr,
                                 batch.packed() ? batch.device_starts : nullptr);
    be.softmax_cross_entropy_forward(nullptr, buf.predictions, buf.class_logits, nullptr, B, c.num_labels);
    be.cross_entropy_backward(g.dclass_logits, buf.losses, buf.class_logits, buf.labels, B, c.num_labels,
                              cfg_.label_smoothing, scale);
    bert_classifier_head_backward(be, c, layout_, params, grads, buf, g, hidden, batch);
  }
  bert_encoder_backward(be, c, layout_, params, grads, buf, g, batch, ctx);

  std::vector<float> losses(static_cast<size_t>(n));
  std::vector<int32_t> predictions(static_cast<size_t>(n));
  be.copy_to_host(losses.data(), buf.losses, size_t(n) * sizeof(float));
  be.copy_to_host(predictions.data(), buf.predictions, size_t(n) * sizeof(int32_t));
  for (int64_t k = 0; k < n; ++k) {
    r.loss += losses[size_t(k)];
    if (predictions[size_t(k)] == row_labels[size_t(k)]) ++r.correct;
  }
}

BertStepResult BertTrainer::accumulate(const BertInputs& in, const int32_t* labels, TaskContext* ctx) {
  const int64_t T = in.tokens;
  BertStepResult r;
  if (config_.masked_lm()) {
    for (int64_t k = 0; k < in.count * T; ++k) r.labelled += labels[k] != kIgnoreLabel;
  } else {
    r.labelled = in.count;
  }
  backend_->zero(state_->grads(), layout_.total());
  const float scale = r.labelled > 0 ? 1.0f / float(r.labelled) : 0.0f;
  const int64_t per_label = config_.masked_lm() ? T : 1;
  for (int64_t i = 0; i < in.count; i += micro_batch_) {
    if (ctx) ctx->check_cancelled();
    BertInputs sub = in;
    sub.count = std::min(micro_batch_, in.count - i);
    sub.ids = in.ids + i * T;
    if (in.type_ids) sub.type_ids = in.type_ids + i * T;
    if (in.mask) sub.mask = in.mask + i * T;
    run_micro_batch(sub, labels + i * per_label, scale, r, ctx);
  }
  r.loss = r.labelled > 0 ? r.loss / double(r.labelled) : 0.0;
  return r;
}

BertStepResult BertTrainer::step(const BertInputs& in, const int32_t* labels, TaskContext* ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  check(in, labels);
  Backend& be = *backend_;
  const int64_t total = layout_.total();
  BertStepResult r = accumulate(in, labels, ctx);
  if (ctx) ctx->check_cancelled();
  r.grad_norm = std::sqrt(be.sum_squares(state_->grads(), total));
  r.lr = state_->update(be, cfg_, step_, r.grad_norm, r.loss);
  r.step = ++step_;
  return r;
}

BertStepResult BertTrainer::gradients(const BertInputs& in, const int32_t* labels, float* grads_out, TaskContext* ctx) {
  std::lock_guard<std::mutex> lock(mutex_);
  check(in, labels);
  BertStepResult r = accumulate(in, labels, ctx);
  state_->read_gradients(grads_out);
  r.grad_norm = std::sqrt(backend_->sum_squares(state_->grads(), layout_.total()));
  r.step = step_;
  return r;
}

void BertTrainer::read_parameters(float* params) const {
  std::lock_guard<std::mutex> lock(mutex_);
  state_->read_parameters(params);
}

void BertTrainer::read_moments(float* m, float* v) const {
  std::lock_guard<std::mutex> lock(mutex_);
  state_->read_moments(m, v);
}

void BertTrainer::load_state(int64_t steps_done, const float* m, const float* v) {
  TF_CHECK(steps_done >= 0, "trainer state: the step count must not be negative");
  std::lock_guard<std::mutex> lock(mutex_);
  state_->load_moments(m, v);
  step_ = steps_done;
}

}  // namespace tf
