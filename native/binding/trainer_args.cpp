#include "trainer_args.h"

#include <cmath>

#include "task.h"

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

TrainerOptions ReadTrainerOptions(Napi::Env env, const Napi::Value& value, const char* cls, bool with_max_tokens) {
  if (!value.IsObject()) ThrowArgError(env, std::string(cls) + ": options must be an object");
  Napi::Object o = value.As<Napi::Object>();
  TrainerOptions t;
  t.batch = ReadCount(env, o, "batchSize", cls, 1);
  if (with_max_tokens) t.max_tokens = ReadCount(env, o, "maxTokens", cls, 1);
  t.micro = t.batch;
  if (!o.Get("microBatch").IsUndefined()) t.micro = ReadCount(env, o, "microBatch", cls, 1);
  if (o.Get("device").IsString()) t.device = o.Get("device").As<Napi::String>().Utf8Value();
  if (t.device != "cuda" && t.device != "cpu" && t.device != "auto")
    ThrowArgError(env, std::string(cls) + ": device must be 'auto', 'cpu' or 'cuda'");
  return t;
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

}  // namespace tfb
