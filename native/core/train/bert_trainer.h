// Trains a BERT in native memory, as VitTrainer trains a ViT: parameters, gradients and
// AdamW moments in three buffers of one BertParamLayout, the forward pass's buffers for
// every layer, and the step counter. One step = forward and backward micro-batch by
// micro-batch (gradients add up), clip to a global norm, AdamW with the scheduled
// learning rate. The masked-LM loss is the mean cross-entropy over the labelled tokens
// of the whole step (label -100: no loss), as HF's BertForMaskedLM computes it for a
// batch; the classification loss the mean over the sequences. Masking itself happens
// before (lib/text/mlm-masking.ts): the trainer takes corrupted ids and their labels.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "../backend.h"
#include "../bert/bert_backward.h"
#include "../bert/bert_buffers.h"
#include "../bert/bert_config.h"
#include "../bert/bert_model.h"
#include "../bert/bert_params.h"
#include "../task.h"
#include "train_state.h"
#include "vit_trainer.h"

namespace tf {

struct BertStepResult {
  double loss = 0;        // mean loss over the labelled tokens (masked LM) or sequences, before the update
  int64_t correct = 0;    // labelled tokens / sequences whose top logit is the label, before the update
  int64_t labelled = 0;   // tokens with a label (masked LM) or sequences (classification)
  double grad_norm = 0;   // global gradient norm before clipping
  double lr = 0;          // learning rate the step used
  int64_t step = 0;       // steps done after this one
};

class BertTrainer {
 public:
  // `params` holds layout.total() floats (host). Steps take up to batch_capacity
  // sequences of up to max_tokens tokens, run in micro-batches of at most micro_batch.
  BertTrainer(const BertConfig& config, Backend& backend, const float* params, int64_t count, int64_t batch_capacity,
              int64_t micro_batch, int64_t max_tokens);

  const BertConfig& config() const { return config_; }
  const BertParamLayout& layout() const { return layout_; }
  int64_t batch_capacity() const { return capacity_; }
  int64_t micro_batch() const { return micro_batch_; }
  int64_t max_tokens() const { return max_tokens_; }

  // The ViT trainer's settings; augmentation does not apply to text and is refused.
  void configure(const TrainerConfig& config);

  // One optimiser step on in.count <= batch_capacity sequences (host memory, checked as
  // BertModel checks its inputs) with their labels: count x tokens token labels (masked
  // LM) or count classes. ctx is checked between micro-batches and layers; a cancelled
  // step leaves parameters and moments as they were.
  BertStepResult step(const BertInputs& in, const int32_t* labels, TaskContext* ctx);

  // The gradient of the mean loss at the current parameters into grads_out
  // (layout().total() floats, host); changes nothing. Returns the loss statistics.
  BertStepResult gradients(const BertInputs& in, const int32_t* labels, float* grads_out, TaskContext* ctx);

  int64_t steps_done() const { return step_; }
  void read_parameters(float* params) const;
  void read_moments(float* m, float* v) const;
  void load_state(int64_t steps_done, const float* m, const float* v);

 private:
  void check(const BertInputs& in, const int32_t* labels) const;
  // Zeroes the gradients and adds the gradient of the step's mean loss over `in`.
  BertStepResult accumulate(const BertInputs& in, const int32_t* labels, TaskContext* ctx);
  void run_micro_batch(const BertInputs& in, const int32_t* labels, float scale, BertStepResult& r, TaskContext* ctx);

  BertConfig config_;
  BertParamLayout layout_;
  Backend* backend_;
  int64_t capacity_, micro_batch_, max_tokens_;
  TrainerConfig cfg_;
  int64_t step_ = 0;
  std::unique_ptr<TrainState> state_;
  std::unique_ptr<DeviceBuffer> logits_;
  std::unique_ptr<BertBuffers> buffers_;
  std::unique_ptr<BertGradBuffers> grad_buffers_;
  mutable std::mutex mutex_;
};

}  // namespace tf
