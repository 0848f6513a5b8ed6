// A BERT held in native memory: config, parameters (one contiguous buffer in the
// BertParamLayout order, uploaded once) and the forward pass's working buffers. Used by
// one computation at a time (calls serialise on a mutex), like VitModel.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "../activations/activation_store.h"
#include "../activations/staged_samples.h"
#include "../backend.h"
#include "../task.h"
#include "bert_buffers.h"
#include "bert_config.h"
#include "bert_params.h"

namespace tf {

// `count` sequences of `tokens` token ids each, row-major, in host memory.
struct BertInputs {
  const int32_t* ids = nullptr;
  const int32_t* type_ids = nullptr;  // null: token type 0 everywhere
  const uint8_t* mask = nullptr;      // 1 = real token, 0 = padding; null: no padding
  int64_t count = 0;
  int64_t tokens = 0;
};

// Where results go, in host memory; each may be null (not wanted). Masked LM: logits
// (count, tokens, vocab), losses (count, tokens; NaN where the label is -100),
// predictions (count, tokens; argmax, -1 where the row was not decoded: padding is
// decoded only when logits are wanted). Classification: logits (count, labels), losses
// and predictions (count).
struct BertOutputs {
  float* logits = nullptr;
  float* losses = nullptr;
  int32_t* predictions = nullptr;
};

// Throws tf::Error naming the sample and position of the first bad input (see
// BertModel::check_inputs); shared with the trainer.
void check_bert_inputs(const BertConfig& config, const BertInputs& in, const int32_t* labels);

class BertModel {
 public:
  // `params` holds layout.total() floats in host memory. `point_names`, when not empty,
  // renames the capture points (one per bert_capture_points() entry, same order).
  BertModel(const BertConfig& config, Backend& backend, const float* params, int64_t count,
            const std::vector<std::string>& point_names = {});

  const BertConfig& config() const { return config_; }
  const BertParamLayout& layout() const { return layout_; }
  Backend& backend() const { return *backend_; }
  const std::vector<CapturePoint>& capture_points() const { return points_; }

  // Sequences per encoder pass: 0 (the default) keeps about kMicroBatchRows token rows
  // in flight, whatever the sequence length (the same cache argument as VitModel's).
  int64_t micro_batch() const { return micro_batch_; }
  void set_micro_batch(int64_t n);

  // Throws tf::Error naming the sample and position of the first bad input: a token id
  // outside the vocabulary, a token type outside type_vocab_size, a mask value other than
  // 0/1, a sample without a real token, a sequence longer than max_position_embeddings,
  // a label outside the vocabulary (-100 excepted) or the classes.
  void check_inputs(const BertInputs& in, const int32_t* labels) const;

  // Runs the inputs; with labels (masked LM: count x tokens, -100 = no loss;
  // classification: count) fills the losses. The masked-LM decoder runs on every token
  // when logits are wanted, else on the labelled tokens only (or on every token when
  // only predictions are wanted). Reports progress in sequences.
  void forward(const BertInputs& in, const int32_t* labels, const BertOutputs& out, TaskContext* ctx);

  // Runs the first min(count, store.remaining()) sequences and files their activations
  // (real tokens only) and per-sample losses (masked LM: the mean over labelled tokens;
  // NaN without labels) in the store; returns how many it took.
  int64_t capture(ActivationStore& store, const BertInputs& in, const int32_t* labels, TaskContext* ctx);

  void read_parameters(float* params) const;

  // Staged passes for statistics repair, as VitModel's (see there): write_parameters
  // refuses parameters of a stage the staged samples have passed; stage_samples copies
  // the sequences (checked as forward checks them) and may be called once per batch
  // before the first capture_staged; stage -1 is the embeddings, stage num_layers the
  // head (masked-LM transform or pooler); rescale_staged re-enters layers as VitModel's.
  void write_parameters(int64_t offset, const float* data, int64_t count);
  void stage_samples(const BertInputs& in);
  int64_t capture_staged(ActivationStore& store, TaskContext* ctx,
                         const std::function<void()>& after_chunk = nullptr);
  ActivationStoreOptions staged_chunk_options() const;  // also sized for the chunks' tokens
  bool rescale_staged(const std::vector<std::string>& points, const std::vector<double>& scale,
                      const std::vector<double>& shift);
  void clear_staged();
  int64_t staged_count() const;
  int64_t staged_stage() const;

 private:
  int64_t chunk_size(int64_t tokens) const;
  BertBuffers& buffers_for(int64_t batch, int64_t tokens);
  float* logits_buffer(int64_t rows);
  // One chunk of sequences: inputs and results in host memory (pointers already offset).
  // `start_layer` >= 0 starts a capture there from `stream` (backend memory, the chunk's
  // rows x hidden as its pass lays them out: packed or padded) instead of at the ids.
  void run_chunk(const BertInputs& in, const int32_t* labels, const BertOutputs& out, ActivationSink* sink,
                 float* sample_losses, const TaskContext* ctx, int64_t last_point = -1, int64_t start_layer = -1,
                 const float* stream = nullptr, LayerResume* resume = nullptr);
  void check_store(const ActivationStore& store) const;
  int64_t stage_of_parameter(int64_t offset) const;
  // Rows of all staged chunks' streams.
  int64_t staged_rows() const;
  // The staged chunks as the passes run them.
  std::vector<StagedRows> staged_row_chunks() const;

  // One chunk of staged sequences (copies), and where its rows start in the streams.
  struct StagedChunk {
    std::vector<int32_t> ids, type_ids;
    std::vector<uint8_t> mask;
    int64_t count = 0, tokens = 0;
    int64_t rows = 0, first_row = 0;
    BertInputs inputs() const {
      return {ids.data(), type_ids.empty() ? nullptr : type_ids.data(), mask.empty() ? nullptr : mask.data(), count,
              tokens};
    }
  };

  BertConfig config_;
  BertParamLayout layout_;
  Backend* backend_;
  std::vector<CapturePoint> points_;
  LayerPoints layer_points_;
  std::unique_ptr<DeviceBuffer> params_;
  std::unique_ptr<BertBuffers> buffers_;
  std::unique_ptr<DeviceBuffer> logits_;  // decoder or classifier output, grown on demand
  StagedSamples staged_;
  std::vector<StagedChunk> staged_chunks_;
  static constexpr int64_t kMicroBatchRows = 1024;
  int64_t micro_batch_ = 0;
  mutable std::mutex mutex_;
};

}  // namespace tf
