#include "args.h"

#include <algorithm>
#include <cstdlib>

namespace tfb {

F64View ReadF64(Napi::Env env, const Napi::Value& value, const std::string& what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    ThrowArgError(env, what + " must be a Float64Array");
  auto arr = value.As<Napi::Float64Array>();
  return {arr.Data(), arr.ElementLength()};
}

int64_t ReadSize(Napi::Env env, const Napi::Value& value, const std::string& what) {
  if (!value.IsNumber()) ThrowArgError(env, what + " must be a number");
  double d = value.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d != double(int64_t(d))) ThrowArgError(env, what + " must be a non-negative integer");
  return int64_t(d);
}

Fields::Fields(Napi::Env env, const Napi::Value& value, std::string fn) : env_(env), fn_(std::move(fn)) {
  if (value.IsUndefined() || value.IsNull()) return;
  if (!value.IsObject()) ThrowArgError(env, fn_ + ": options must be an object");
  obj_ = value.As<Napi::Object>();
}

void Fields::number(const char* key, double& out) const {
  if (!has(key)) return;
  Napi::Value v = obj_.Get(key);
  if (!v.IsNumber()) ThrowArgError(env_, fn_ + ": " + key + " must be a number");
  out = v.As<Napi::Number>().DoubleValue();
}

void Fields::boolean(const char* key, bool& out) const {
  if (!has(key)) return;
  Napi::Value v = obj_.Get(key);
  if (!v.IsBoolean()) ThrowArgError(env_, fn_ + ": " + key + " must be a boolean");
  out = v.As<Napi::Boolean>().Value();
}

std::string Fields::string(const char* key, const std::string& fallback) const {
  if (!has(key)) return fallback;
  Napi::Value v = obj_.Get(key);
  if (!v.IsString()) ThrowArgError(env_, fn_ + ": " + key + " must be a string");
  return v.As<Napi::String>().Utf8Value();
}

Fields Fields::object(const char* key) const {
  return Fields(env_, has(key) ? obj_.Get(key) : env_.Undefined(), fn_ + ": " + key);
}

void Fields::bad(const char* key, const std::string& value, const char* allowed) const {
  ThrowArgError(env_, fn_ + ": " + key + " must be " + allowed + ", got '" + value + "'");
}

Napi::Float64Array Adopt(Napi::Env env, tf::ot::BigBuffer& buffer) {
  const size_t count = buffer.size(), bytes = count * sizeof(double), capacity = buffer.capacity();
  double* data = buffer.release();
  Napi::MemoryManagement::AdjustExternalMemory(env, int64_t(bytes));
  auto ab = Napi::ArrayBuffer::New(env, data, bytes, [bytes, capacity](Napi::Env e, void* p) {
    tf::ot::BigBuffer::dispose(p, capacity);  // large ones go back to the pool for the next plan
    Napi::MemoryManagement::AdjustExternalMemory(e, -int64_t(bytes));
  });
  return Napi::Float64Array::New(env, count, ab, 0);
}

Napi::Float64Array Copy(Napi::Env env, const std::vector<double>& v) {
  auto arr = Napi::Float64Array::New(env, v.size());
  std::copy(v.begin(), v.end(), arr.Data());
  return arr;
}

Napi::Float32Array Copy(Napi::Env env, const std::vector<float>& v) {
  auto arr = Napi::Float32Array::New(env, v.size());
  std::copy(v.begin(), v.end(), arr.Data());
  return arr;
}

}  // namespace tfb
