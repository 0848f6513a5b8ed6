#include "vit_trainer_wrap.h"

#include <cmath>

#include "../core/backend.h"
#include "task.h"
#include "vit_model_wrap.h"

namespace tfb {

double ReadNumber(Napi::Env env, const Napi::Object& o, const char* key, const char* what) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber() || !std::isfinite(v.As<Napi::Number>().DoubleValue()))
    ThrowArgError(env, std::string(what) + ": " + key + " must be a finite number");
  return v.As<Napi::Number>().DoubleValue();
}

int64_t ReadCount(Napi::Env env, const Napi::Object& o, const char* key, const char* what, int64_t min) {
  double d = ReadNumber(env, o, key, what);
  if (d != std::floor(d) || d < double(min))
    ThrowArgError(env, std::string(what) + ": " + key + " must be an integer >= " + std::to_string(min));
  return int64_t(d);
}

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
  Napi::Function ctor = DefineClass(env, "VitTrainer",
                                    {InstanceMethod<&VitTrainerWrap::Configure>("configure"),
                                     InstanceMethod<&VitTrainerWrap::Step>("step"),
                                     InstanceMethod<&VitTrainerWrap::Gradients>("gradients"),
                                     InstanceMethod<&VitTrainerWrap::ReadParameters>("readParameters"),
                                     InstanceMethod<&VitTrainerWrap::ReadState>("readState"),
                                     InstanceMethod<&VitTrainerWrap::LoadState>("loadState"),
                                     InstanceAccessor<&VitTrainerWrap::GetSteps>("steps"),
                                     InstanceAccessor<&VitTrainerWrap::GetMicroBatch>("microBatch")});
  exports.Set("VitTrainer", ctor);
}

// new VitTrainer(config, params, { batchSize, microBatch?, device? })
VitTrainerWrap::VitTrainerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<VitTrainerWrap>(info) {
  Napi::Env env = info.Env();
  try {
    tf::VitConfig config = ReadVitConfig(env, info[0]);
    F32View params = ReadF32(env, info[1], "VitTrainer: params");
    if (!info[2].IsObject()) ThrowArgError(env, "VitTrainer: options must be an object");
    Napi::Object o = info[2].As<Napi::Object>();
    const int64_t batch = ReadCount(env, o, "batchSize", "VitTrainer", 1);
    int64_t micro = batch;
    if (!o.Get("microBatch").IsUndefined()) micro = ReadCount(env, o, "microBatch", "VitTrainer", 1);
    std::string device = "auto";
    if (o.Get("device").IsString()) device = o.Get("device").As<Napi::String>().Utf8Value();
    if (device != "cuda" && device != "cpu" && device != "auto")
      ThrowArgError(env, "VitTrainer: device must be 'auto', 'cpu' or 'cuda'");
    // 'auto': the GPU when one is usable, else the CPU; 'cuda' without one is an error.
    tf::Backend& be = ResolveBackend(env, device, "VitTrainer");
    trainer_ = std::make_shared<tf::VitTrainer>(config, be, params.data, int64_t(params.length), batch, micro);
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

// { schedule, lr, warmupSteps, totalSteps, beta1, beta2, eps, weightDecay, labelSmoothing,
//   maxGradNorm, augment?: { cropPadding, horizontalFlip, fill, seed } }
tf::TrainerConfig ReadTrainerConfig(Napi::Env env, const Napi::Value& value) {
  if (!value.IsObject()) ThrowArgError(env, "configure: expected an options object");
  Napi::Object o = value.As<Napi::Object>();
  const char* what = "configure";
  tf::TrainerConfig c;
  if (!o.Get("schedule").IsString()) ThrowArgError(env, "configure: schedule must be a string");
  try {
    c.schedule.kind = tf::lr_schedule_kind(o.Get("schedule").As<Napi::String>().Utf8Value());
  } catch (const tf::Error& e) {
    ThrowArgError(env, std::string("configure: ") + e.what());
  }
  c.schedule.base_lr = ReadNumber(env, o, "lr", what);
  c.schedule.warmup_steps = ReadCount(env, o, "warmupSteps", what, 0);
  c.schedule.total_steps = ReadCount(env, o, "totalSteps", what, 1);
  c.beta1 = ReadNumber(env, o, "beta1", what);
  c.beta2 = ReadNumber(env, o, "beta2", what);
  c.eps = ReadNumber(env, o, "eps", what);
  c.weight_decay = ReadNumber(env, o, "weightDecay", what);
  c.label_smoothing = float(ReadNumber(env, o, "labelSmoothing", what));
  c.max_grad_norm = ReadNumber(env, o, "maxGradNorm", what);
  Napi::Value aug = o.Get("augment");
  if (aug.IsObject()) {
    Napi::Object a = aug.As<Napi::Object>();
    c.augment = true;
    c.augmentation.crop_padding = ReadCount(env, a, "cropPadding", "configure.augment", 0);
    c.augmentation.horizontal_flip = a.Get("horizontalFlip").ToBoolean().Value();
    c.augmentation.seed = uint64_t(ReadCount(env, a, "seed", "configure.augment", 0));
    Napi::Value fill = a.Get("fill");
    if (fill.IsArray()) {
      Napi::Array arr = fill.As<Napi::Array>();
      for (uint32_t i = 0; i < arr.Length(); ++i) {
        if (!arr.Get(i).IsNumber()) ThrowArgError(env, "configure.augment: fill must hold numbers");
        c.augmentation.fill.push_back(arr.Get(i).As<Napi::Number>().FloatValue());
      }
    }
  } else if (!aug.IsUndefined() && !aug.IsNull()) {
    ThrowArgError(env, "configure: augment must be an object");
  }
  return c;
}

// configure(options): ReadTrainerConfig's object.
Napi::Value VitTrainerWrap::Configure(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  tf::TrainerConfig c = ReadTrainerConfig(env, info[0]);
  try {
    trainer_->configure(c);
  } catch (const tf::Error& e) {
    ThrowArgError(env, e.what());
  }
  return env.Undefined();
}

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

Napi::Value VitTrainerWrap::ReadParameters(const Napi::CallbackInfo& info) {
  auto out = Napi::Float32Array::New(info.Env(), size_t(trainer_->layout().total()));
  trainer_->read_parameters(out.Data());
  return out;
}

// readState() -> { step, m, v }
Napi::Value VitTrainerWrap::ReadState(const Napi::CallbackInfo& info) {
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
Napi::Value VitTrainerWrap::LoadState(const Napi::CallbackInfo& info) {
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

Napi::Value VitTrainerWrap::GetSteps(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(trainer_->steps_done()));
}

Napi::Value VitTrainerWrap::GetMicroBatch(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), double(trainer_->micro_batch()));
}

}  // namespace tfb
