// CancelToken: a JS object holding the flag that native tasks poll. The TypeScript layer
// creates one per call and sets it from an AbortSignal.
#pragma once

#include <napi.h>

#include <atomic>
#include <memory>

namespace tfb {

class CancelToken : public Napi::ObjectWrap<CancelToken> {
 public:
  static void Register(Napi::Env env, Napi::Object exports);
  explicit CancelToken(const Napi::CallbackInfo& info);

  std::shared_ptr<std::atomic<bool>> flag() const { return flag_; }
  // The token wrapped by `value`, or nullptr when it is not a CancelToken.
  static CancelToken* Unwrap(const Napi::Value& value);

 private:
  Napi::Value Cancel(const Napi::CallbackInfo& info);
  Napi::Value Cancelled(const Napi::CallbackInfo& info);

  std::shared_ptr<std::atomic<bool>> flag_ = std::make_shared<std::atomic<bool>>(false);
  static Napi::FunctionReference* constructor_;
};

}  // namespace tfb
