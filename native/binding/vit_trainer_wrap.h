// VitTrainer: native training of a ViT as a JS object (Napi::ObjectWrap around
// tf::VitTrainer). Parameters, gradients and AdamW moments stay in native memory; JS
// passes batches in and reads parameters and optimiser state back for checkpoints.
#pragma once

#include <napi.h>

#include <memory>

#include "../core/train/vit_trainer.h"

namespace tfb {

class VitTrainerWrap : public Napi::ObjectWrap<VitTrainerWrap> {
 public:
  static void Register(Napi::Env env, Napi::Object exports);
  explicit VitTrainerWrap(const Napi::CallbackInfo& info);

 private:
  Napi::Value Configure(const Napi::CallbackInfo& info);
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value Gradients(const Napi::CallbackInfo& info);
  Napi::Value ReadParameters(const Napi::CallbackInfo& info);
  Napi::Value ReadState(const Napi::CallbackInfo& info);
  Napi::Value LoadState(const Napi::CallbackInfo& info);
  Napi::Value GetSteps(const Napi::CallbackInfo& info);
  Napi::Value GetMicroBatch(const Napi::CallbackInfo& info);

  std::shared_ptr<tf::VitTrainer> trainer_;
};

// The trainer settings object of configure() (shared by the ViT and BERT trainers).
tf::TrainerConfig ReadTrainerConfig(Napi::Env env, const Napi::Value& value);
// o[key] as a finite number / an integer >= min; errors name `what` and the key.
double ReadNumber(Napi::Env env, const Napi::Object& o, const char* key, const char* what);
int64_t ReadCount(Napi::Env env, const Napi::Object& o, const char* key, const char* what, int64_t min);

}  // namespace tfb
