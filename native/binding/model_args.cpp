#include "model_args.h"


namespace tfb {

int64_t ReadConfigInt(Napi::Env env, const Napi::Object& obj, const char* key, const char* prefix) {
  Napi::Value v = obj.Get(key);
  if (!v.IsNumber()) ThrowArgError(env, std::string(prefix) + ": " + key + " must be a number");
  const double d = v.As<Napi::Number>().DoubleValue();
  if (d != double(int64_t(d))) ThrowArgError(env, std::string(prefix) + ": " + key + " must be an integer");
  return int64_t(d);
}

float ReadConfigFloat(Napi::Env env, const Napi::Object& obj, const char* key, const char* prefix) {
  Napi::Value v = obj.Get(key);
  if (!v.IsNumber()) ThrowArgError(env, std::string(prefix) + ": " + key + " must be a number");
  return v.As<Napi::Number>().FloatValue();
}

bool ReadConfigBool(Napi::Env env, const Napi::Object& obj, const char* key, const char* prefix) {
  Napi::Value v = obj.Get(key);
  if (!v.IsBoolean()) ThrowArgError(env, std::string(prefix) + ": " + key + " must be a boolean");
  return v.As<Napi::Boolean>().Value();
}

std::vector<std::string> ReadCaptureNames(Napi::Env env, const Napi::Value& value, const char* cls) {
  std::vector<std::string> names;
  if (value.IsUndefined() || value.IsNull()) return names;
  if (!value.IsArray()) ThrowArgError(env, std::string(cls) + ": captureNames must be an array of strings");
  Napi::Array arr = value.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value v = arr.Get(i);
    if (!v.IsString()) ThrowArgError(env, std::string(cls) + ": captureNames must be strings");
    names.push_back(v.As<Napi::String>().Utf8Value());
  }
  return names;
}

tf::Backend& ModelBackend(const std::string& device, const char* cls) {
  if (device == "cuda" && !tf::cuda_available())
    throw tf::Error(std::string(cls) + ": device 'cuda' was asked for, but CUDA is not available: " +
                    tf::cuda_unavailable_reason());
  return tf::backend_for(device);
}

namespace {

Napi::Array ShapeArray(Napi::Env env, const std::vector<int64_t>& dims) {
  Napi::Array a = Napi::Array::New(env, dims.size());
  for (size_t i = 0; i < dims.size(); ++i) a.Set(uint32_t(i), Napi::Number::New(env, double(dims[i])));
  return a;
}

}  // namespace

Napi::Object DescribeLayout(Napi::Env env, int64_t total, const std::vector<tf::ParamTensor>& tensors,
                            const std::vector<tf::CapturePoint>& points, bool with_padded) {
  Napi::Object out = Napi::Object::New(env);
  out.Set("total", Napi::Number::New(env, double(total)));
  Napi::Array ts = Napi::Array::New(env, tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", tensors[i].name);
    o.Set("shape", ShapeArray(env, tensors[i].shape));
    o.Set("offset", Napi::Number::New(env, double(tensors[i].offset)));
    ts.Set(uint32_t(i), o);
  }
  out.Set("tensors", ts);
  Napi::Array pts = Napi::Array::New(env, points.size());
  for (size_t i = 0; i < points.size(); ++i) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", points[i].name);
    o.Set("tokens", Napi::Number::New(env, double(points[i].tokens)));
    o.Set("width", Napi::Number::New(env, double(points[i].width)));
    if (with_padded) o.Set("padded", Napi::Boolean::New(env, points[i].padded));
    pts.Set(uint32_t(i), o);
  }
  out.Set("capturePoints", pts);
  return out;
}

Napi::Object DescribeStorePlan(Napi::Env env, const tf::ActivationStoreOptions& o,
                               const std::vector<tf::CapturePoint>& points, const tf::Backend& be, bool kept_only) {
  tf::ActivationStore::Plan plan;
  try {
    plan = tf::ActivationStore::plan(points, o);
  } catch (const tf::Error& e) {
    ThrowArgError(env, e.what());
  }
  Napi::Object out = Napi::Object::New(env);
  out.Set("bytes", Napi::Number::New(env, double(plan.bytes)));
  out.Set("limit", Napi::Number::New(env, double(o.max_bytes ? o.max_bytes : tf::activation_limit(be))));
  Napi::Array entries = Napi::Array::New(env);
  for (const auto& entry : plan.entries) {
    if (kept_only && !entry.kept) continue;
    Napi::Object e = Napi::Object::New(env);
    e.Set("name", entry.name);
    e.Set("rowsPerSample", Napi::Number::New(env, double(entry.rows_per_sample)));
    e.Set("width", Napi::Number::New(env, double(entry.width)));
    entries.Set(entries.Length(), e);
  }
  out.Set("entries", entries);
  return out;
}

}  // namespace tfb
