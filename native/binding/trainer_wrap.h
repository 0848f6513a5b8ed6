// The part of the VitTrainer and BertTrainer JS classes that does not depend on the
// model: configure(), the parameter and optimiser-state accessors checkpoints use, and
// the steps / microBatch getters. A CRTP base, so each class still registers its own JS
// name and its model-specific step() and gradients().
#pragma once

#include <napi.h>

#include <memory>
#include <string>

#include "args.h"
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
    return W::DefineClass(env, name,
                          {W::InstanceMethod("configure", Member(&TrainerWrap::Configure)),
                           W::InstanceMethod("step", step),
                           W::InstanceMethod("gradients", gradients),
                           W::InstanceMethod("readParameters", Member(&TrainerWrap::ReadParameters)),
                           W::InstanceMethod("readState", Member(&TrainerWrap::ReadState)),
                           W::InstanceMethod("loadState", Member(&TrainerWrap::LoadState)),
                           W::InstanceAccessor("steps", Member(&TrainerWrap::GetSteps), nullptr),
                           W::InstanceAccessor("microBatch", Member(&TrainerWrap::GetMicroBatch), nullptr)});
  }

  // Sets trainer_ to what `make(env)` builds (the constructor's body); a core error
  // (tf::Error, std::bad_alloc) becomes a JS exception instead of ending the process.
  template <typename Make>
  void Build(const Napi::CallbackInfo& info, Make make) {
    trainer_ = CallGuarded(info.Env(), [&] { return make(info.Env()); });
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

  Napi::Value ReadParameters(const Napi::CallbackInfo& info) {
    auto out = Napi::Float32Array::New(info.Env(), size_t(trainer_->layout().total()));
    trainer_->read_parameters(out.Data());
    return out;
  }

  // readState() -> { step, m, v }
  Napi::Value ReadState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const size_t n = size_t(trainer_->layout().total());
    auto m = Napi::Float32Array::New(env, n), v = Napi::Float32Array::New(env, n);
    trainer_->read_moments(m.Data(), v.Data());
    Napi::Object o = Napi::Object::New(env);
    o.Set("step", Napi::Number::New(env, double(trainer_->steps_done())));
    o.Set("m", m);
    o.Set("v", v);
    return o;
  }

  // loadState(step, m, v)
  Napi::Value LoadState(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (!info[0].IsNumber() || info[0].As<Napi::Number>().Int64Value() < 0)
      ThrowArgError(env, "loadState: step must be a non-negative integer");
    F32View m = ReadF32(env, info[1], "loadState: m"), v = ReadF32(env, info[2], "loadState: v");
    const size_t n = size_t(trainer_->layout().total());
    if (m.length != n || v.length != n)
      ThrowArgError(env, "loadState: m and v must hold " + std::to_string(n) + " floats each");
    trainer_->load_state(info[0].As<Napi::Number>().Int64Value(), m.data, v.data);
    return env.Undefined();
  }

  Napi::Value GetSteps(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(trainer_->steps_done()));
  }
  Napi::Value GetMicroBatch(const Napi::CallbackInfo& info) {
    return Napi::Number::New(info.Env(), double(trainer_->micro_batch()));
  }

  std::shared_ptr<Trainer> trainer_;
};

}  // namespace tfb
