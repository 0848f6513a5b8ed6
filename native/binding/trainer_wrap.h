// The part of the VitTrainer and BertTrainer JS classes that does not depend on the
// model: configure(), the parameter and optimiser-state accessors checkpoints use, and
// the steps / microBatch getters. A CRTP base, so each class still registers its own JS
// name and its model-specific step() and gradients().
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "args.h"
#include "parameter_parts.h"
#include "trainer_args.h"

namespace tfb {

template <typename Derived, typename Trainer>
class TrainerWrap : public Napi::ObjectWrap<Derived> {
 protected:
  using Member = Napi::Value (Derived::*)(const Napi::CallbackInfo&);
  using Descriptor = Napi::ClassPropertyDescriptor<Derived>;

  explicit TrainerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Derived>(info) {}

  // Defines the JS class `name` with step and gradients first, then the shared members.
  // Member pointers of this base only convert to Derived's at run time, hence the
  // non-template InstanceMethod overloads.
  static Napi::Function Define(Napi::Env env, const char* name, Member step, Member gradients) {
    using W = Napi::ObjectWrap<Derived>;
    Napi::Function ctor =
        W::DefineClass(env, name,
                          {W::StaticMethod("build", &Derived::BuildStatic),
                           W::InstanceMethod("configure", Member(&TrainerWrap::Configure)),
                           W::InstanceMethod("step", step),
                           W::InstanceMethod("gradients", gradients),
                           W::InstanceMethod("readParameters", Member(&TrainerWrap::ReadParameters)),
                           W::InstanceMethod("readState", Member(&TrainerWrap::ReadState)),
                           W::InstanceMethod("loadState", Member(&TrainerWrap::LoadState)),
                           W::InstanceAccessor("steps", Member(&TrainerWrap::GetSteps), nullptr),
                           W::InstanceAccessor("microBatch", Member(&TrainerWrap::GetMicroBatch), nullptr)});
    constructor_ = new Napi::FunctionReference(Napi::Persistent(ctor));
    return ctor;
  }

  // The constructor's body: a trainer is only made by build() (BuildAsync), which hands
  // the finished trainer over in an External; `new` from JavaScript is refused.
  void Adopt(const Napi::CallbackInfo& info, const char* cls) {
    if (info.Length() != 1 || !info[0].IsExternal())
      ThrowArgError(info.Env(), std::string(cls) + ": trainers are made by " + cls + ".build(config, parts, options)");
    trainer_ = *info[0].As<Napi::External<std::shared_ptr<Trainer>>>().Data();
  }

  // Derived::build(config, parts, options) (static) -> Promise<{ built } | { nonFinite }>:
  // the constructor's work with the parameters as ReadParameterParts' list (parts[1]),
  // packed and copied into the trainer on a worker (BuildFromParts). `make(flat)` builds
  // the trainer from the packed buffer of `total` floats; options.cancel may stop it.
  static Napi::Value BuildAsync(const Napi::CallbackInfo& info, const std::string& cls, int64_t total,
                                std::function<std::shared_ptr<Trainer>(const float*)> make) {
    Napi::Env env = info.Env();
    std::vector<Napi::Value> keep;
    std::vector<ParameterPart> parts = ReadParameterParts(env, info[1], total, cls + ".build: parts", keep);
    // The options object carries the trainer's settings beside cancel (TaskOptions ignores them).
    return BuildFromParts<Trainer>(env, TaskOptions::From(info[2]), keep, std::move(parts), total, std::move(make),
                                   [](Napi::Env env, std::shared_ptr<Trainer>* made) -> Napi::Value {
                                     return constructor_->New({Napi::External<std::shared_ptr<Trainer>>::New(env, made)});
                                   });
  }

  // configure(options): ReadTrainerConfig's object.
  Napi::Value Configure(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    tf::TrainerConfig c = ReadTrainerConfig(env, info[0]);
    try {
      trainer_->configure(c);
    } catch (const tf::Error& e) {
      ThrowArgError(env, e.what());
    }
    return env.Undefined();
  }

  // readParameters() -> Promise<Float32Array>, readState() -> Promise<{ step, m, v }> and
  // loadState(step, m, v) -> Promise<void>: copies of up to three model-sized buffers
  // (from the GPU when the trainer lives there), made on a worker; the trainer's own lock
  // orders them with its steps.
  Napi::Value ReadParameters(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto trainer = trainer_;
    auto out = Napi::Float32Array::New(env, size_t(trainer->layout().total()));
    float* data = out.Data();
    auto result = std::make_shared<Napi::Reference<Napi::Value>>(Napi::Persistent(Napi::Value(out)));
    return Task::Start(
        env, TaskOptions(), {out}, [trainer, data](tf::TaskContext&) { trainer->read_parameters(data); },
        [result](Napi::Env) -> Napi::Value { return result->Value(); });
  }

  Napi::Value ReadState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    auto trainer = trainer_;
    const size_t n = size_t(trainer->layout().total());
    auto m = Napi::Float32Array::New(env, n), v = Napi::Float32Array::New(env, n);
    float *pm = m.Data(), *pv = v.Data();
    auto step = std::make_shared<int64_t>(0);
    auto result = std::make_shared<Napi::ObjectReference>(Napi::Persistent(Napi::Object::New(env)));
    result->Value().Set("m", m);
    result->Value().Set("v", v);
    return Task::Start(
        env, TaskOptions(), {m, v},
        [trainer, pm, pv, step](tf::TaskContext&) {
          trainer->read_moments(pm, pv);
          *step = trainer->steps_done();
        },
        [result, step](Napi::Env env) -> Napi::Value {
          result->Value().Set("step", Napi::Number::New(env, double(*step)));
          return result->Value();
        });
  }

  Napi::Value LoadState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber() || info[0].As<Napi::Number>().Int64Value() < 0)
      ThrowArgError(env, "loadState: step must be a non-negative integer");
    F32View m = ReadF32(env, info[1], "loadState: m"), v = ReadF32(env, info[2], "loadState: v");
    const size_t n = size_t(trainer_->layout().total());
    if (m.length != n || v.length != n)
      ThrowArgError(env, "loadState: m and v must hold " + std::to_string(n) + " floats each");
    auto trainer = trainer_;
    const int64_t step = info[0].As<Napi::Number>().Int64Value();
    return Task::Start(env, TaskOptions(), {info[1], info[2]},
                       [trainer, step, m, v](tf::TaskContext&) { trainer->load_state(step, m.data, v.data); });
  }

  Napi::Value GetSteps(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(trainer_->steps_done()));
  }
  Napi::Value GetMicroBatch(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(trainer_->micro_batch()));
  }

  std::shared_ptr<Trainer> trainer_;

 private:
  static inline Napi::FunctionReference* constructor_ = nullptr;
};

}  // namespace tfb
