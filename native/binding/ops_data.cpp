// Exports for the input pipeline: 8-bit dataset images -> normalised model input.
#include <napi.h>

#include "../core/cpu/image_preprocess.h"
#include "../core/error.h"
#include "exports.h"
#include "task.h"

namespace tfb {

namespace {

int64_t Field(Napi::Env env, const Napi::Object& o, const char* key, const char* what) {
  Napi::Value v = o.Get(key);
  if (!v.IsNumber() || v.As<Napi::Number>().Int64Value() < 1)
    ThrowArgError(env, std::string("preprocessImages: ") + what + "." + key + " must be a positive integer");
  return v.As<Napi::Number>().Int64Value();
}

std::vector<float> FloatList(Napi::Env env, const Napi::Value& v, size_t n, const char* key) {
  if (!v.IsArray() || v.As<Napi::Array>().Length() != n)
    ThrowArgError(env, std::string("preprocessImages: ") + key + " must hold one number per output channel");
  std::vector<float> out;
  for (uint32_t i = 0; i < n; ++i) {
    Napi::Value x = v.As<Napi::Array>().Get(i);
    if (!x.IsNumber()) ThrowArgError(env, std::string("preprocessImages: ") + key + " must hold numbers");
    out.push_back(x.As<Napi::Number>().FloatValue());
  }
  return out;
}

// preprocessImages(src: Uint8Array, count, source: { height, width, channels, planar },
//                  target: { height, width, channels, rule, mean, std }, out: Float32Array, options)
Napi::Value PreprocessImages(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsTypedArray() || info[0].As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array)
    ThrowArgError(env, "preprocessImages: src must be a Uint8Array");
  auto src = info[0].As<Napi::Uint8Array>();
  if (!info[1].IsNumber()) ThrowArgError(env, "preprocessImages: count must be a number");
  const int64_t count = info[1].As<Napi::Number>().Int64Value();
  if (!info[2].IsObject() || !info[3].IsObject()) ThrowArgError(env, "preprocessImages: source and target must be objects");
  Napi::Object so = info[2].As<Napi::Object>(), to = info[3].As<Napi::Object>();
  tf::cpu::SourceImages source;
  source.height = Field(env, so, "height", "source");
  source.width = Field(env, so, "width", "source");
  source.channels = Field(env, so, "channels", "source");
  source.planar = so.Get("planar").ToBoolean();
  tf::cpu::PreprocessSpec spec;
  spec.height = Field(env, to, "height", "target");
  spec.width = Field(env, to, "width", "target");
  spec.channels = Field(env, to, "channels", "target");
  const std::string rule = to.Get("rule").IsString() ? to.Get("rule").As<Napi::String>().Utf8Value() : "";
  if (rule == "copy") spec.rule = tf::cpu::ChannelRule::Copy;
  else if (rule == "replicate") spec.rule = tf::cpu::ChannelRule::Replicate;
  else if (rule == "luminance") spec.rule = tf::cpu::ChannelRule::Luminance;
  else ThrowArgError(env, "preprocessImages: target.rule must be copy, replicate or luminance");
  auto mean = std::make_shared<std::vector<float>>(FloatList(env, to.Get("mean"), size_t(spec.channels), "mean"));
  auto stdv = std::make_shared<std::vector<float>>(FloatList(env, to.Get("std"), size_t(spec.channels), "std"));
  for (float s : *stdv)
    if (!(s > 0.0f)) ThrowArgError(env, "preprocessImages: std must be positive");
  F32View out = ReadF32(env, info[4], "preprocessImages: out");
  if (count < 0 || int64_t(src.ElementLength()) < count * source.height * source.width * source.channels)
    ThrowArgError(env, "preprocessImages: src is shorter than count images");
  if (int64_t(out.length) < count * spec.height * spec.width * spec.channels)
    ThrowArgError(env, "preprocessImages: out is shorter than count images");
  TaskOptions opts = TaskOptions::From(info[5]);
  const uint8_t* src_data = src.Data();
  return Task::Start(env, opts, {info[0], info[4]}, [=](tf::TaskContext&) {
    tf::cpu::PreprocessSpec s = spec;
    s.mean = mean->data();
    s.std = stdv->data();
    tf::cpu::preprocess_images(out.data, src_data, count, source, s);
  });
}

}  // namespace

void RegisterDataOps(Napi::Env env, Napi::Object exports) { Export<PreprocessImages>(env, exports, "preprocessImages"); }

}  // namespace tfb
