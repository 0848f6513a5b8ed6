#include "cancel_token.h"

namespace tfb {

Napi::FunctionReference* CancelToken::constructor_ = nullptr;

void CancelToken::Register(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "CancelToken",
                                    {InstanceMethod<&CancelToken::Cancel>("cancel"),
                                     InstanceAccessor<&CancelToken::Cancelled>("cancelled")});
  constructor_ = new Napi::FunctionReference(Napi::Persistent(ctor));
  env.SetInstanceData<Napi::FunctionReference>(constructor_);
  exports.Set("CancelToken", ctor);
}

CancelToken::CancelToken(const Napi::CallbackInfo& info) : Napi::ObjectWrap<CancelToken>(info) {}

CancelToken* CancelToken::Unwrap(const Napi::Value& value) {
  if (!value.IsObject() || !constructor_) return nullptr;
  Napi::Object obj = value.As<Napi::Object>();
  if (!obj.InstanceOf(constructor_->Value())) return nullptr;
  return Napi::ObjectWrap<CancelToken>::Unwrap(obj);
}

Napi::Value CancelToken::Cancel(const Napi::CallbackInfo& info) {
  flag_->store(true);
  return info.Env().Undefined();
}

Napi::Value CancelToken::Cancelled(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), flag_->load());
}

}  // namespace tfb
