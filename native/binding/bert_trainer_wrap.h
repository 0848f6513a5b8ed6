// BertTrainer: native training of a BERT as a JS object (Napi::ObjectWrap around
// tf::BertTrainer), the text twin of VitTrainer. Parameters, gradients and AdamW moments
// stay in native memory; JS passes token batches (already masked, with labels) in and
// reads parameters and optimiser state back for checkpoints.
#pragma once

#include <napi.h>

#include <memory>

#include "../core/train/bert_trainer.h"

namespace tfb {

class BertTrainerWrap : public Napi::ObjectWrap<BertTrainerWrap> {
 public:
  static void Register(Napi::Env env, Napi::Object exports);
  explicit BertTrainerWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Configure(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value Gradients(const Napi::CallbackInfo& info);
  Napi::Value ReadParameters(const Napi::CallbackInfo& info);
  Napi::Value ReadState(const Napi::CallbackInfo& info);
  Napi::Value LoadState(const Napi::CallbackInfo& info);
  Napi::Value GetSteps(const Napi::CallbackInfo& info);
  Napi::Value GetMicroBatch(const Napi::CallbackInfo& info);

  std::shared_ptr<tf::BertTrainer> trainer_;
};

}  // namespace tfb
