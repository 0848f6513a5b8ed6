#include "vit_trainer_wrap.h"

#include "../core/backend.h"
#include "task.h"
#include "vit_model_wrap.h"

namespace tfb {

namespace {

// images (Float32Array), labels (Int32Array), count: checked against the config.
struct Batch {
  F32View images;
  const int32_t* labels;
  int64_t count;
};

Batch ReadBatch(const Napi::CallbackInfo& info, const tf::VitTrainer& trainer, const char* what) {
  Napi::Env env = info.Env();
  Batch b;
  b.images = ReadF32(env, info[0], std::string(what) + ": images");
  if (!info[1].IsTypedArray() || info[1].As<Napi::TypedArray>().TypedArrayType() != napi_int32_array)
    ThrowArgError(env, std::string(what) + ": labels must be an Int32Array");
  auto labels = info[1].As<Napi::Int32Array>();
  if (!info[2].IsNumber()) ThrowArgError(env, std::string(what) + ": count must be a number");
  b.count = info[2].As<Napi::Number>().Int64Value();
  const tf::VitConfig& c = trainer.config();
  if (b.count < 1 || b.count > trainer.batch_capacity())
    ThrowArgError(env, std::string(what) + ": count must lie in [1, " + std::to_string(trainer.batch_capacity()) + "]");
  if (int64_t(b.images.length) < b.count * c.image_floats())
    ThrowArgError(env, std::string(what) + ": images holds fewer than count images");
  if (int64_t(labels.ElementLength()) < b.count) ThrowArgError(env, std::string(what) + ": fewer labels than images");
  b.labels = labels.Data();
  return b;
}

}  // namespace

void VitTrainerWrap::Register(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = Define(env, "VitTrainer", &VitTrainerWrap::Step, &VitTrainerWrap::Gradients);
  exports.Set("VitTrainer", ctor);
}

// VitTrainer.build(config, parts, options) -> Promise<{ built } | { nonFinite }>: see TrainerWrap::BuildAsync.
Napi::Value VitTrainerWrap::BuildStatic(const Napi::CallbackInfo& info) {
  return CallGuarded(info.Env(), [&] {
    Napi::Env env = info.Env();
    const auto config = ReadVitConfig(env, info[0]);
    const TrainerOptions o = ReadTrainerOptions(env, info[2], "VitTrainer", false);
    tf::Backend* be = &ResolveBackend(env, o.device, "VitTrainer");
    const int64_t total = tf::VitParamLayout(config).total();
    return BuildAsync(info, "VitTrainer", total, [config, be, total, o](const float* flat) {
      return std::make_shared<tf::VitTrainer>(config, *be, flat, total, o.batch, o.micro);
    });
  });
}

// new VitTrainer(External): only from VitTrainer.build() (TrainerWrap::Adopt).
VitTrainerWrap::VitTrainerWrap(const Napi::CallbackInfo& info) : TrainerWrap(info) { Adopt(info, "VitTrainer"); }

// step(images, labels, count, taskOptions) -> Promise<{ loss, correct, gradNorm, lr, step }>
Napi::Value VitTrainerWrap::Step(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Batch b = ReadBatch(info, *trainer_, "step");
  TaskOptions opts = TaskOptions::From(info[3]);
  auto trainer = trainer_;
  auto result = std::make_shared<tf::StepResult>();
  return Task::Start(
      env, opts, {info[0], info[1]},
      [trainer, b, result](tf::TaskContext& ctx) { *result = trainer->step(b.images.data, b.labels, b.count, &ctx); },
      [result](Napi::Env env) -> Napi::Value {
        Napi::Object o = Napi::Object::New(env);
        o.Set("loss", Napi::Number::New(env, result->loss));
        o.Set("correct", Napi::Number::New(env, double(result->correct)));
        o.Set("gradNorm", Napi::Number::New(env, result->grad_norm));
        o.Set("lr", Napi::Number::New(env, result->lr));
        o.Set("step", Napi::Number::New(env, double(result->step)));
        return o;
      });
}

// gradients(images, labels, count, taskOptions) -> Promise<{ loss, grads }>
Napi::Value VitTrainerWrap::Gradients(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Batch b = ReadBatch(info, *trainer_, "gradients");
  TaskOptions opts = TaskOptions::From(info[3]);
  auto grads = Napi::Float32Array::New(env, size_t(trainer_->layout().total()));
  auto trainer = trainer_;
  auto loss = std::make_shared<double>(0.0);
  float* out = grads.Data();
  auto keep = std::make_shared<Napi::ObjectReference>(Napi::Persistent(Napi::Object::New(env)));
  keep->Value().Set("grads", grads);
  return Task::Start(
      env, opts, {info[0], info[1], grads},
      [trainer, b, out, loss](tf::TaskContext& ctx) { *loss = trainer->gradients(b.images.data, b.labels, b.count, out, &ctx); },
      [keep, loss](Napi::Env env) -> Napi::Value {
        Napi::Object o = keep->Value();
        o.Set("loss", Napi::Number::New(env, *loss));
        return o;
      });
}

}  // namespace tfb
