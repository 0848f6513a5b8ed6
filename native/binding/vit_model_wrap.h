// VitModel: the native ViT as a JS object (Napi::ObjectWrap around tf::VitModel).
#pragma once

#include <napi.h>

#include "../core/vit/vit_model.h"
#include "model_wrap.h"

namespace tfb {

class VitModelWrap : public ModelWrap<VitModelWrap, tf::VitModel> {
 public:
  static constexpr const char* kClassName = "VitModel";
  static void Register(Napi::Env env, Napi::Object exports);
  explicit VitModelWrap(const Napi::CallbackInfo& info);
  static Napi::Value BuildStatic(const Napi::CallbackInfo& info);

 private:
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Capture(const Napi::CallbackInfo& info);
  Napi::Value StageSamples(const Napi::CallbackInfo& info);
  Napi::Value PlanActivationStore(const Napi::CallbackInfo& info);
  Napi::Value SetMicroBatch(const Napi::CallbackInfo& info);
};

// Reads the {imageSize, patchSize, ...} object the TypeScript adapter builds.
tf::VitConfig ReadVitConfig(Napi::Env env, const Napi::Value& value);

}  // namespace tfb
