// BertModel: the native BERT as a JS object (Napi::ObjectWrap around tf::BertModel).
#pragma once

#include <napi.h>

#include <memory>

#include "../core/bert/bert_model.h"

namespace tfb {

class BertModelWrap : public Napi::ObjectWrap<BertModelWrap> {
 public:
  static void Register(Napi::Env env, Napi::Object exports);
  explicit BertModelWrap(const Napi::CallbackInfo& info);

  // The model wrapped by `value`, or null when it is not a BertModel.
  static std::shared_ptr<tf::BertModel> ModelOf(const Napi::Value& value);

 private:
  Napi::Value Forward(const Napi::CallbackInfo& info);
  Napi::Value Capture(const Napi::CallbackInfo& info);
  Napi::Value PlanActivationStore(const Napi::CallbackInfo& info);
  Napi::Value ReadParameters(const Napi::CallbackInfo& info);
  Napi::Value SetMicroBatch(const Napi::CallbackInfo& info);
  Napi::Value GetMicroBatch(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info);

  std::shared_ptr<tf::BertModel> model_;
  static Napi::FunctionReference* constructor_;
};

// Reads the {vocabSize, hidden, ...} object lib/models/bert.ts builds.
tf::BertConfig ReadBertConfig(Napi::Env env, const Napi::Value& value);

}  // namespace tfb
