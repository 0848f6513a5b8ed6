// Module entry point of the addon: registers the native classes and functions.
#include <napi.h>

#include "activation_store_wrap.h"
#include "bert_model_wrap.h"
#include "bert_trainer_wrap.h"
#include "cancel_token.h"
#include "exports.h"
#include "vit_model_wrap.h"
#include "vit_trainer_wrap.h"

namespace tfb {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  CancelToken::Register(env, exports);
  RegisterBasicOps(env, exports);
  RegisterOtOps(env, exports);
  RegisterFusionOps(env, exports);
  RegisterDataOps(env, exports);
  VitModelWrap::Register(env, exports);
  BertModelWrap::Register(env, exports);
  ActivationStoreWrap::Register(env, exports);
  VitTrainerWrap::Register(env, exports);
  BertTrainerWrap::Register(env, exports);
  return exports;
}

}  // namespace tfb

static Napi::Object InitAddon(Napi::Env env, Napi::Object exports) { return tfb::Init(env, exports); }

NODE_API_MODULE(transformer_fusion, InitAddon)
