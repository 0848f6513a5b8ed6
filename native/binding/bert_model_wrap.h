// BertModel: the native BERT as a JS object (Napi::ObjectWrap around tf::BertModel).
#pragma once

#include <napi.h>

#include "../core/bert/bert_model.h"
#include "model_wrap.h"

namespace tfb {

class BertModelWrap : public ModelWrap<BertModelWrap, tf::BertModel> {
 public:
  static constexpr const char* kClassName = "BertModel";
  static void Register(Napi::Env env, Napi::Object exports);
  explicit BertModelWrap(const Napi::CallbackInfo& info);
  static Napi::Value BuildStatic(const Napi::CallbackInfo& info);

 private:
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Capture(const Napi::CallbackInfo& info);
  Napi::Value StageSamples(const Napi::CallbackInfo& info);
  Napi::Value PlanActivationStore(const Napi::CallbackInfo& info);
  Napi::Value SetMicroBatch(const Napi::CallbackInfo& info);
};

// Reads the {vocabSize, hidden, ...} object lib/models/bert.ts builds.
tf::BertConfig ReadBertConfig(Napi::Env env, const Napi::Value& value);

}  // namespace tfb
