#include "activation_store_wrap.h"

#include "../core/error.h"
#include "bert_model_wrap.h"
#include "task.h"
#include "vit_model_wrap.h"

namespace tfb {

Napi::FunctionReference* ActivationStoreWrap::constructor_ = nullptr;

tf::ActivationStoreOptions ReadStoreOptions(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject()) ThrowArgError(env, "activation store options must be an object");
  Napi::Object o = value.As<Napi::Object>();
  tf::ActivationStoreOptions opts;
  Napi::Value cap = o.Get("capacity");
  if (!cap.IsNumber() || cap.As<Napi::Number>().Int64Value() < 1)
    ThrowArgError(env, "activation store: capacity must be a positive number of samples");
  opts.capacity = cap.As<Napi::Number>().Int64Value();
  Napi::Value filter = o.Get("seqFilter");
  if (filter.IsString()) {
    try {
      tf::parse_sequence_filter(filter.As<Napi::String>().Utf8Value(), &opts.filter, &opts.window);
    } catch (const tf::Error& e) {
      ThrowArgError(env, e.what());
    }
  } else if (!filter.IsUndefined() && !filter.IsNull()) {
    ThrowArgError(env, "activation store: seqFilter must be a string");
  }
  Napi::Value avg = o.Get("avgSeqItems");
  if (avg.IsBoolean()) opts.average_tokens = avg.As<Napi::Boolean>().Value();
  // Token counts: a non-negative integer, or absent (0: the default).
  auto count = [&](const char* key) -> int64_t {
    Napi::Value v = o.Get(key);
    if (v.IsUndefined() || v.IsNull()) return 0;
    if (!v.IsNumber()) ThrowArgError(env, std::string("activation store: ") + key + " must be a number");
    const double t = v.As<Napi::Number>().DoubleValue();
    if (!(t >= 0 && t <= 9.0e15) || t != double(int64_t(t)))
      ThrowArgError(env, std::string("activation store: ") + key + " must be a non-negative integer");
    return int64_t(t);
  };
  opts.max_tokens = count("maxTokens");
  opts.max_total_tokens = count("maxTotalTokens");
  Napi::Value only = o.Get("only");
  if (only.IsArray()) {
    Napi::Array names = only.As<Napi::Array>();
    for (uint32_t i = 0; i < names.Length(); ++i) {
      if (!names.Get(i).IsString()) ThrowArgError(env, "activation store: only must be a list of activation names");
      opts.only.push_back(names.Get(i).As<Napi::String>().Utf8Value());
    }
  } else if (!only.IsUndefined() && !only.IsNull()) {
    ThrowArgError(env, "activation store: only must be a list of activation names");
  }
  Napi::Value max = o.Get("maxBytes");
  if (max.IsNumber()) {
    double m = max.As<Napi::Number>().DoubleValue();
    if (!(m >= 1)) ThrowArgError(env, "activation store: maxBytes must be positive");
    opts.max_bytes = uint64_t(m);
  }
  return opts;
}

void ActivationStoreWrap::Register(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor =
      DefineClass(env, "ActivationStore",
                  {InstanceMethod<&ActivationStoreWrap::Entries>("entries"),
                   InstanceMethod<&ActivationStoreWrap::Losses>("losses"),
                   InstanceMethod<&ActivationStoreWrap::SampleTokens>("sampleTokens"),
                   InstanceMethod<&ActivationStoreWrap::Keep>("keep"),
                   InstanceMethod<&ActivationStoreWrap::Finalize>("finalize"),
                   InstanceMethod<&ActivationStoreWrap::Stats>("stats"),
                   InstanceMethod<&ActivationStoreWrap::Copy>("copy"),
                   InstanceMethod<&ActivationStoreWrap::Release>("release"),
                   InstanceMethod<&ActivationStoreWrap::Dispose>("dispose"),
                   InstanceAccessor<&ActivationStoreWrap::GetBytes>("bytes"),
                   InstanceAccessor<&ActivationStoreWrap::GetCapacity>("capacity"),
                   InstanceAccessor<&ActivationStoreWrap::GetNumSamples>("numSamples"),
                   InstanceAccessor<&ActivationStoreWrap::GetFinalized>("finalized"),
                   InstanceAccessor<&ActivationStoreWrap::GetDevice>("device")});
  constructor_ = new Napi::FunctionReference(Napi::Persistent(ctor));
  exports.Set("ActivationStore", ctor);
}

// new ActivationStore(model, { capacity, seqFilter?, avgSeqItems?, maxBytes?, maxTokens?, maxTotalTokens? })
ActivationStoreWrap::ActivationStoreWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<ActivationStoreWrap>(info) {
  Napi::Env env = info.Env();
  // The store lives where the model runs (on its GPU when it has one).
  std::vector<tf::CapturePoint> points;
  tf::Backend* be = nullptr;
  if (auto vit = VitModelWrap::ModelOf(info[0])) points = vit->capture_points(), be = &vit->backend();
  else if (auto bert = BertModelWrap::ModelOf(info[0])) points = bert->capture_points(), be = &bert->backend();
  else ThrowArgError(env, "ActivationStore: model must be a VitModel or a BertModel that has not been disposed");
  tf::ActivationStoreOptions opts = ReadStoreOptions(env, info[1]);
  try {
    handle_ = std::make_shared<StoreHandle>(std::make_unique<tf::ActivationStore>(points, opts, *be));
  } catch (const std::exception& e) {
    Napi::Error err = Napi::Error::New(env, e.what());
    err.Set("code", Napi::String::New(env, "ERR_ACTIVATION_MEMORY"));
    throw err;
  }
}

std::shared_ptr<StoreHandle> ActivationStoreWrap::Handle(Napi::Env env, const Napi::Value& value, const char* what) {
  if (!value.IsObject() || !constructor_ || !value.As<Napi::Object>().InstanceOf(constructor_->Value()))
    ThrowArgError(env, std::string(what) + " must be an ActivationStore");
  return Napi::ObjectWrap<ActivationStoreWrap>::Unwrap(value.As<Napi::Object>())->live(env);
}

std::shared_ptr<StoreHandle> ActivationStoreWrap::live(Napi::Env env) const {
  if (!handle_) throw Napi::Error::New(env, "the activation store was disposed");
  return handle_;
}

namespace {
// The store's lock for a call on the JS thread, which must never wait for a running
// capture or transform: it fails at once instead.
std::unique_lock<std::mutex> LockNow(Napi::Env env, StoreHandle& h) {
  std::unique_lock<std::mutex> lock(h.mutex, std::try_to_lock);
  if (!lock.owns_lock()) throw Napi::Error::New(env, "the activation store is busy (a capture or transform is running)");
  return lock;
}
}  // namespace

Napi::Value ActivationStoreWrap::Entries(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto h = live(env);
  auto lock = LockNow(env, *h);
  const tf::ActivationStore& s = *h->store;
  Napi::Array out = Napi::Array::New(env);
  for (size_t i = 0; i < s.entry_count(); ++i) {
    const tf::ActivationEntry& e = s.entry(i);
    if (!e.kept) continue;
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", e.name);
    o.Set("rows", Napi::Number::New(env, double(s.rows(i))));
    o.Set("cols", Napi::Number::New(env, double(s.cols(i))));
    o.Set("rowsPerSample", Napi::Number::New(env, double(e.rows_per_sample)));
    o.Set("averaged", Napi::Boolean::New(env, e.average));
    o.Set("released", Napi::Boolean::New(env, e.released));
    o.Set("variableRows", Napi::Boolean::New(env, e.variable_rows));
    // Variable-row entries keep whichever tokens are real: no fixed list to report.
    const size_t listed = e.variable_rows ? 0 : e.kept_tokens.size();
    Napi::Array tokens = Napi::Array::New(env, listed);
    for (size_t k = 0; k < listed; ++k) tokens.Set(uint32_t(k), Napi::Number::New(env, double(e.kept_tokens[k])));
    o.Set("tokens", tokens);
    out.Set(out.Length(), o);
  }
  return out;
}

Napi::Value ActivationStoreWrap::Losses(const Napi::CallbackInfo& info) {
  auto h = live(info.Env());
  auto lock = LockNow(info.Env(), *h);
  auto out = Napi::Float32Array::New(info.Env(), size_t(h->store->num_samples()));
  std::copy(h->store->losses(), h->store->losses() + h->store->num_samples(), out.Data());
  return out;
}

// sampleTokens() -> Int32Array: real tokens of each stored sample (empty without padded points).
Napi::Value ActivationStoreWrap::SampleTokens(const Napi::CallbackInfo& info) {
  auto h = live(info.Env());
  auto lock = LockNow(info.Env(), *h);
  const auto& tokens = h->store->sample_tokens();
  auto out = Napi::Int32Array::New(info.Env(), tokens.size());
  for (size_t i = 0; i < tokens.size(); ++i) out[i] = int32_t(tokens[i]);
  return out;
}

// keep(mask: Uint8Array, options) -> Promise<number of samples left>
Napi::Value ActivationStoreWrap::Keep(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto h = live(env);
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    ThrowArgError(env, "keep: mask must be a Uint8Array");
  auto mask = info[0].As<Napi::Uint8Array>();
  const uint8_t* data = mask.Data();
  const int64_t count = int64_t(mask.ElementLength());
  TaskOptions opts = TaskOptions::From(info[1]);
  auto left = std::make_shared<int64_t>(0);
  return Task::Start(
      env, opts, {info[0]},
      [h, data, count, left](tf::TaskContext&) {
        std::lock_guard<std::mutex> lock(h->mutex);
        h->store->keep(data, count);
        *left = h->store->num_samples();
      },
      [left](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, double(*left)); });
}

// finalize(transform: 'none' | 'std' | 'center' | 'norm', options) -> Promise<void>
Napi::Value ActivationStoreWrap::Finalize(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto h = live(env);
  if (!info[0].IsString()) ThrowArgError(env, "finalize: transform must be a string");
  tf::ActivationTransform t;
  try {
    t = tf::parse_activation_transform(info[0].As<Napi::String>().Utf8Value());
  } catch (const tf::Error& e) {
    ThrowArgError(env, e.what());
  }
  TaskOptions opts = TaskOptions::From(info[1]);
  return Task::Start(env, opts, {}, [h, t](tf::TaskContext&) {
    std::lock_guard<std::mutex> lock(h->mutex);
    h->store->finalize(t);
  });
}

// stats(options) -> Promise<[{ name, mean, std, min, max }]>
Napi::Value ActivationStoreWrap::Stats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto h = live(env);
  TaskOptions opts = TaskOptions::From(info[0]);
  auto results = std::make_shared<std::vector<std::pair<std::string, tf::MatrixStats>>>();
  return Task::Start(
      env, opts, {},
      [h, results](tf::TaskContext& ctx) {
        std::lock_guard<std::mutex> lock(h->mutex);
        const tf::ActivationStore& s = *h->store;
        for (size_t i = 0; i < s.entry_count(); ++i) {
          ctx.check_cancelled();
          if (!s.entry(i).kept || s.entry(i).released) continue;
          results->emplace_back(s.entry(i).name, s.stats(i));
          ctx.progress(double(i + 1), double(s.entry_count()));
        }
      },
      [results](Napi::Env env) -> Napi::Value {
        Napi::Array out = Napi::Array::New(env, results->size());
        for (size_t i = 0; i < results->size(); ++i) {
          const auto& [name, st] = (*results)[i];
          Napi::Object o = Napi::Object::New(env);
          o.Set("name", name);
          o.Set("mean", st.mean);
          o.Set("std", st.std);
          o.Set("min", st.min);
          o.Set("max", st.max);
          out.Set(uint32_t(i), o);
        }
        return out;
      });
}

// copy(name) -> Float32Array (rows x cols), a copy for tests and inspection.
Napi::Value ActivationStoreWrap::Copy(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto h = live(env);
  if (!info[0].IsString()) ThrowArgError(env, "copy: name must be a string");
  auto lock = LockNow(env, *h);
  const tf::ActivationStore& s = *h->store;
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  int64_t i = s.find(name);
  if (i < 0) ThrowArgError(env, "copy: no activation called '" + name + "'");
  if (s.released(size_t(i))) throw Napi::Error::New(env, "copy: activation '" + name + "' was released: its memory has been given back");
  auto out = Napi::Float32Array::New(env, size_t(s.rows(size_t(i)) * s.cols(size_t(i))));
  try {
    s.copy_to_host(size_t(i), out.Data());
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  return out;
}

// release(name): gives one finalized entry's memory back; reading it afterwards throws.
Napi::Value ActivationStoreWrap::Release(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto h = live(env);
  if (!info[0].IsString()) ThrowArgError(env, "release: name must be a string");
  auto lock = LockNow(env, *h);
  const std::string name = info[0].As<Napi::String>().Utf8Value();
  const int64_t i = h->store->find(name);
  if (i < 0) ThrowArgError(env, "release: no activation called '" + name + "'");
  try {
    h->store->release(size_t(i));
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
  return env.Undefined();
}

// Releases the native memory now (tasks already running keep it until they finish).
Napi::Value ActivationStoreWrap::Dispose(const Napi::CallbackInfo& info) {
  handle_.reset();
  return info.Env().Undefined();
}

Napi::Value ActivationStoreWrap::GetBytes(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(live(info.Env())->store->bytes()));
}
Napi::Value ActivationStoreWrap::GetCapacity(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(live(info.Env())->store->capacity()));
}
Napi::Value ActivationStoreWrap::GetNumSamples(const Napi::CallbackInfo& info) {
  auto h = live(info.Env());
  auto lock = LockNow(info.Env(), *h);
  return Napi::Number::New(info.Env(), double(h->store->num_samples()));
}
Napi::Value ActivationStoreWrap::GetDevice(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), tf::device_name(live(info.Env())->store->backend().device()));
}
Napi::Value ActivationStoreWrap::GetFinalized(const Napi::CallbackInfo& info) {
  auto h = live(info.Env());
  auto lock = LockNow(info.Env(), *h);
  return Napi::Boolean::New(info.Env(), h->store->finalized());
}

}  // namespace tfb
