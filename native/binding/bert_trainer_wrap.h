// BertTrainer: native training of a BERT as a JS object (Napi::ObjectWrap around
// tf::BertTrainer), the text twin of VitTrainer. Parameters, gradients and AdamW moments
// stay in native memory; JS passes token batches (already masked, with labels) in and
// reads parameters and optimiser state back for checkpoints.
#pragma once

#include <napi.h>

#include "../core/train/bert_trainer.h"
#include "trainer_wrap.h"

namespace tfb {

class BertTrainerWrap : public TrainerWrap<BertTrainerWrap, tf::BertTrainer> {
 public:
  static void Register(Napi::Env env, Napi::Object exports);
  explicit BertTrainerWrap(const Napi::CallbackInfo& info);
  static Napi::Value BuildStatic(const Napi::CallbackInfo& info);

 private:
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value Gradients(const Napi::CallbackInfo& info);
};

}  // namespace tfb
