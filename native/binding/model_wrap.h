// The part of the VitModel and BertModel JS classes that does not depend on the model:
// the wrapped-model handle other exports reach through ModelOf(), the disposed check, and
// the readParameters / microBatch / device / dispose members every model answers alike,
// and build(), the one way a model is made.
// A CRTP base, so each class still registers its own JS name and model-specific methods.
#pragma once

#include <napi.h>

#include <algorithm>
#include <memory>
#include <string>

#include "../core/backend.h"
#include "../core/fusion/column_moments.h"
#include "activation_store_wrap.h"
#include "args.h"
#include "capture_task.h"
#include "model_args.h"
#include "parameter_parts.h"
#include "task.h"

namespace tfb {

template <typename Derived, typename Model>
class ModelWrap : public Napi::ObjectWrap<Derived> {
 public:
  // The model wrapped by `value`, or null when it is not an instance of Derived.
  static std::shared_ptr<Model> ModelOf(const Napi::Value& value) {
    if (!value.IsObject() || !constructor_) return nullptr;
    Napi::Object obj = value.As<Napi::Object>();
    if (!obj.InstanceOf(constructor_->Value())) return nullptr;
    return Napi::ObjectWrap<Derived>::Unwrap(obj)->model_;
  }

 protected:
  using Member = Napi::Value (Derived::*)(const Napi::CallbackInfo&);

  explicit ModelWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Derived>(info) {}

  // Defines the JS class `name` and remembers its constructor for ModelOf().
  static Napi::Function Define(Napi::Env env, const char* name,
                               const std::vector<Napi::ClassPropertyDescriptor<Derived>>& members) {
    Napi::Function ctor = Napi::ObjectWrap<Derived>::DefineClass(env, name, members);
    constructor_ = new Napi::FunctionReference(Napi::Persistent(ctor));
    return ctor;
  }
  // Descriptors of the shared members, for Derived::Register's list. Member pointers of
  // this base only convert to Derived's at run time, hence the non-template overloads.
  static Napi::ClassPropertyDescriptor<Derived> ReadParametersMethod() {
    return Napi::ObjectWrap<Derived>::InstanceMethod("readParameters", Member(&ModelWrap::ReadParameters));
  }
  static Napi::ClassPropertyDescriptor<Derived> MicroBatchAccessor() {
    return Napi::ObjectWrap<Derived>::InstanceAccessor("microBatch", Member(&ModelWrap::GetMicroBatch), nullptr);
  }
  static Napi::ClassPropertyDescriptor<Derived> DeviceAccessor() {
    return Napi::ObjectWrap<Derived>::InstanceAccessor("device", Member(&ModelWrap::GetDevice), nullptr);
  }
  static Napi::ClassPropertyDescriptor<Derived> DisposeMethod() {
    return Napi::ObjectWrap<Derived>::InstanceMethod("dispose", Member(&ModelWrap::Dispose));
  }
  // Statistics repair's staged passes and in-place parameter writes (tf::VitModel).
  static std::vector<Napi::ClassPropertyDescriptor<Derived>> StagedMethods() {
    return {Napi::ObjectWrap<Derived>::InstanceMethod("writeParameters", Member(&ModelWrap::WriteParameters)),
            Napi::ObjectWrap<Derived>::InstanceMethod("captureStaged", Member(&ModelWrap::CaptureStaged)),
            Napi::ObjectWrap<Derived>::InstanceMethod("rescaleStaged", Member(&ModelWrap::RescaleStaged)),
            Napi::ObjectWrap<Derived>::InstanceMethod("measureStaged", Member(&ModelWrap::MeasureStaged)),
            Napi::ObjectWrap<Derived>::InstanceMethod("clearStaged", Member(&ModelWrap::ClearStaged))};
  }

  // The constructor's body: a model is only made by build() (BuildAsync), which hands
  // the finished model over in an External; `new` from JavaScript is refused.
  void Adopt(const Napi::CallbackInfo& info) {
    if (info.Length() != 1 || !info[0].IsExternal())
      ThrowArgError(info.Env(), std::string(Derived::kClassName) + ": models are made by " + Derived::kClassName +
                                    ".build(config, parts, captureNames, options)");
    model_ = *info[0].As<Napi::External<std::shared_ptr<Model>>>().Data();
  }

  // Derived::build(config, parts, captureNames?, { device?, cancel? }) (static) ->
  //   Promise<{ built: Derived } | { nonFinite: { part, index, value } }>
  // The parameters come as ReadParameterParts' list, packed, checked and uploaded on a
  // worker thread (BuildFromParts); `config` is Derived's config, read on the JS thread.
  template <typename Config>
  static Napi::Value BuildAsync(const Napi::CallbackInfo& info, const Config& config, int64_t total) {
    Napi::Env env = info.Env();
    std::vector<Napi::Value> keep;
    const std::string cls = Derived::kClassName;
    std::vector<ParameterPart> parts = ReadParameterParts(env, info[1], total, cls + ".build: parts", keep);
    std::vector<std::string> names = ReadCaptureNames(env, info[2], Derived::kClassName);
    const TaskOptions opts = TaskOptions::From(info[3]);
    tf::Backend* be = &ModelBackend(opts.device, Derived::kClassName);  // a tf::Error: the caller's CallGuarded
    return BuildFromParts<Model>(
        env, opts, keep, std::move(parts), total,
        [config, total, be, names = std::move(names)](const float* flat) {
          return std::make_shared<Model>(config, *be, flat, total, names);
        },
        [](Napi::Env env, std::shared_ptr<Model>* made) -> Napi::Value {
          return constructor_->New({Napi::External<std::shared_ptr<Model>>::New(env, made)});
        });
  }

  // The model, or a JS error when dispose() released it.
  Model& live(Napi::Env env) const {
    if (!model_) ThrowArgError(env, std::string("this ") + Derived::kClassName + " was disposed");
    return *model_;
  }

  // readParameters(taskOptions?) -> Promise<Float32Array>: a copy (from the GPU when the
  // model lives there), made on a worker; the model's own lock orders it with its passes.
  Napi::Value ReadParameters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    auto model = model_;
    auto out = Napi::Float32Array::New(env, size_t(model->layout().total()));
    float* data = out.Data();
    auto result = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(Napi::Value(out)));
    return Task::Start(
        env, TaskOptions::From(info[0]), {out}, [model, data](tf::TaskContext&) { model->read_parameters(data); },
        [result](Napi::Env) -> Napi::Value { return result->Value(); });
  }
  // writeParameters(parts, taskOptions?) -> Promise<void>: each { data, offset } part
  // (ReadParameterParts) overwrites the model's parameters there, on a worker.
  Napi::Value WriteParameters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto model = model_;
    std::vector<Napi::Value> keep;
    std::vector<ParameterPart> parts =
        ReadParameterParts(env, info[0], live(env).layout().total(), "writeParameters: parts", keep);
    return Task::Start(
        env, TaskOptions::From(info[1]), keep,
        [model, parts](tf::TaskContext&) {
          for (const ParameterPart& p : parts) model->write_parameters(p.offset, p.data, p.length);
        },
        [](Napi::Env e) -> Napi::Value { return e.Undefined(); });
  }
  // captureStaged(store, taskOptions?) -> Promise<number captured>
  Napi::Value CaptureStaged(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto handle = ActivationStoreWrap::Handle(env, info[0], "captureStaged: store");
    live(env);
    auto model = model_;
    auto work = [model](tf::ActivationStore& store, tf::TaskContext& ctx) { return model->capture_staged(store, &ctx); };
    return StartCapture(env, TaskOptions::From(info[1]), {info[0]}, handle, work);
  }
  // rescaleStaged(points, scale, shift, taskOptions?) -> Promise<boolean>: the kept
  // group's output neurons were rescaled (tf::VitModel::rescale_staged); whether the kept
  // outputs could follow.
  Napi::Value RescaleStaged(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    auto model = model_;
    std::vector<std::string> names = ReadCaptureNames(env, info[0], "rescaleStaged: points");
    const F64View scale = ReadF64(env, info[1], "rescaleStaged: scale"), shift = ReadF64(env, info[2], "rescaleStaged: shift");
    auto a = std::make_shared<std::vector<double>>(scale.data, scale.data + scale.length);
    auto c = std::make_shared<std::vector<double>>(shift.data, shift.data + shift.length);
    auto taken = std::make_shared<bool>(false);
    return Task::Start(
        env, TaskOptions::From(info[3]), {},
        [model, names = std::move(names), a, c, taken](tf::TaskContext&) { *taken = model->rescale_staged(names, *a, *c); },
        [taken](Napi::Env e) -> Napi::Value { return Napi::Boolean::New(e, *taken); });
  }
  // measureStaged(points, taskOptions?) -> Promise<Array<{ mean, std }>>: each point's
  // per-neuron mean and standard deviation over every staged sample (every token), from a
  // staged capture into a store of one chunk, drained after each (fusion/column_moments.h).
  Napi::Value MeasureStaged(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    live(env);
    auto model = model_;
    std::vector<std::string> names = ReadCaptureNames(env, info[0], "measureStaged: points");
    if (names.empty()) ThrowArgError(env, "measureStaged: points must name at least one capture point");
    auto results = std::make_shared<std::vector<std::pair<std::vector<double>, std::vector<double>>>>();
    return Task::Start(
        env, TaskOptions::From(info[1]), {},
        [model, names = std::move(names), results](tf::TaskContext& ctx) {
          tf::ActivationStoreOptions options = model->staged_chunk_options();
          options.only = names;
          tf::ActivationStore store(model->capture_points(), options, model->backend());
          tf::fusion::StreamedColumnStats stats(store);
          model->capture_staged(store, &ctx, [&] { stats.drain(); });
          for (const std::string& name : names) {
            const auto at = std::find(stats.names().begin(), stats.names().end(), name) - stats.names().begin();
            const tf::fusion::ColumnMoments& m = stats.moments()[size_t(at)];
            results->emplace_back(m.mean(), m.std());
          }
        },
        [results](Napi::Env e) -> Napi::Value {
          Napi::Array out = Napi::Array::New(e, results->size());
          for (size_t i = 0; i < results->size(); ++i) {
            Napi::Object r = Napi::Object::New(e);
            r.Set("mean", Copy(e, (*results)[i].first));
            r.Set("std", Copy(e, (*results)[i].second));
            out.Set(uint32_t(i), r);
          }
          return out;
        });
  }
  // clearStaged(): forgets the staged samples (waits for a pass that uses them).
  Napi::Value ClearStaged(const Napi::CallbackInfo& info) {
    live(info.Env()).clear_staged();
    return info.Env().Undefined();
  }
  Napi::Value GetMicroBatch(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(live(info.Env()).micro_batch()));
  }
  Napi::Value GetDevice(const Napi::CallbackInfo& info) {
    return Napi::String::New(info.Env(), tf::device_name(live(info.Env()).backend().device()));
  }
  // dispose(): frees the native weights and buffers now (tasks already running keep theirs).
  Napi::Value Dispose(const Napi::CallbackInfo& info) {
    model_.reset();
    return info.Env().Undefined();
  }

  std::shared_ptr<Model> model_;

 private:
  static inline Napi::FunctionReference* constructor_ = nullptr;
};

}  // namespace tfb
