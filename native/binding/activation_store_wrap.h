// ActivationStore: a model's captured activations as a JS object. The activations stay
// in native memory, on the model's device; JS sees names, shapes, statistics, the device
// and (for tests) copies. Other
// native code (cost matrices) reaches the tf::ActivationStore through Handle().
#pragma once

#include <napi.h>

#include <memory>
#include <mutex>

#include "../core/activations/activation_store.h"

namespace tfb {

// The store and the lock that serialises the tasks touching it.
struct StoreHandle {
  explicit StoreHandle(std::unique_ptr<tf::ActivationStore> s) : store(std::move(s)) {}
  std::unique_ptr<tf::ActivationStore> store;
  std::mutex mutex;
};

class ActivationStoreWrap : public Napi::ObjectWrap<ActivationStoreWrap> {
 public:
  static void Register(Napi::Env env, Napi::Object exports);
  explicit ActivationStoreWrap(const Napi::CallbackInfo& info);

  // The store behind `value`; throws a JS TypeError when `value` is not a live store.
  static std::shared_ptr<StoreHandle> Handle(Napi::Env env, const Napi::Value& value, const char* what);

 private:
  Napi::Value Entries(const Napi::CallbackInfo& info);
  Napi::Value Losses(const Napi::CallbackInfo& info);
  Napi::Value SampleTokens(const Napi::CallbackInfo& info);
  Napi::Value Keep(const Napi::CallbackInfo& info);
  Napi::Value Finalize(const Napi::CallbackInfo& info);
  Napi::Value Stats(const Napi::CallbackInfo& info);
  Napi::Value Copy(const Napi::CallbackInfo& info);
  Napi::Value Release(const Napi::CallbackInfo& info);
  Napi::Value Dispose(const Napi::CallbackInfo& info);
  Napi::Value GetBytes(const Napi::CallbackInfo& info);
  Napi::Value GetCapacity(const Napi::CallbackInfo& info);
  Napi::Value GetNumSamples(const Napi::CallbackInfo& info);
  Napi::Value GetFinalized(const Napi::CallbackInfo& info);
  Napi::Value GetDevice(const Napi::CallbackInfo& info);

  std::shared_ptr<StoreHandle> live(Napi::Env env) const;

  std::shared_ptr<StoreHandle> handle_;
  static Napi::FunctionReference* constructor_;
};

// Reads {capacity, seqFilter, avgSeqItems, maxBytes, maxTokens} into store options.
tf::ActivationStoreOptions ReadStoreOptions(Napi::Env env, const Napi::Value& value);

}  // namespace tfb
