// VitModel: the native ViT as a JS object (Napi::ObjectWrap around tf::VitModel).
#pragma once

#include <napi.h>

#include <memory>

#include "../core/vit/vit_model.h"

namespace tfb {

class VitModelWrap : public Napi::ObjectWrap<VitModelWrap> {
 public:
  static void Register(Napi::Env env, Napi::Object exports);
  explicit VitModelWrap(const Napi::CallbackInfo& info);

  // The model wrapped by `value`, or null when it is not a VitModel.
  static std::shared_ptr<tf::VitModel> ModelOf(const Napi::Value& value);

 private:
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Capture(const Napi::CallbackInfo& info);
  Napi::Value PlanActivationStore(const Napi::CallbackInfo& info);
  Napi::Value ReadParameters(const Napi::CallbackInfo& info);
  Napi::Value SetMicroBatch(const Napi::CallbackInfo& info);
  Napi::Value GetMicroBatch(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);

  // The model, or a JS error when dispose() released it.
  tf::VitModel& live(Napi::Env env) const;

  std::shared_ptr<tf::VitModel> model_;
  static Napi::FunctionReference* constructor_;
};

// Reads the {imageSize, patchSize, ...} object the TypeScript adapter builds.
tf::VitConfig ReadVitConfig(Napi::Env env, const Napi::Value& value);

}  // namespace tfb
