// VitTrainer: native training of a ViT as a JS object (Napi::ObjectWrap around
// tf::VitTrainer). Parameters, gradients and AdamW moments stay in native memory; JS
// passes batches in and reads parameters and optimiser state back for checkpoints.
#pragma once

#include <napi.h>

#include "../core/train/vit_trainer.h"
#include "trainer_wrap.h"

namespace tfb {

class VitTrainerWrap : public TrainerWrap<VitTrainerWrap, tf::VitTrainer> {
 public:
  static void Register(Napi::Env env, Napi::Object exports);
  explicit VitTrainerWrap(const Napi::CallbackInfo& info);
  static Napi::Value BuildStatic(const Napi::CallbackInfo& info);

 private:
  Napi::Value Step(const Napi::CallbackInfo& info);
  Napi::Value Gradients(const Napi::CallbackInfo& info);
};

}  // namespace tfb
