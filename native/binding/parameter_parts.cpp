#include "parameter_parts.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "task.h"

namespace tfb {

std::vector<ParameterPart> ReadParameterParts(Napi::Env env, const Napi::Value& value, int64_t total,
                                              const std::string& what, std::vector<Napi::Value>& keep) {
  if (!value.IsArray()) ThrowArgError(env, what + " must be an array of { data, offset }");
  Napi::Array arr = value.As<Napi::Array>();
  std::vector<ParameterPart> parts;
  parts.reserve(arr.Length());
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    const std::string at = what + "[" + std::to_string(i) + "]";
    Napi::Value item = arr.Get(i);
    if (!item.IsObject()) ThrowArgError(env, at + " must be an object { data, offset }");
    Napi::Object o = item.As<Napi::Object>();
    Napi::Value data = o.Get("data");
    F32View view = ReadF32(env, data, at + ".data");
    Napi::Value off = o.Get("offset");
    if (!off.IsNumber()) ThrowArgError(env, at + ".offset must be a number");
    const double d = off.As<Napi::Number>().DoubleValue();
    if (!(d >= 0) || d != std::floor(d) || d + double(view.length) > double(total))
      ThrowArgError(env, at + ": " + std::to_string(view.length) + " values at offset " + std::to_string(d) +
                             " do not fit the " + std::to_string(total) + "-value parameter buffer");
    parts.push_back({view.data, int64_t(view.length), int64_t(d)});
    keep.push_back(data);
  }
  return parts;
}

NonFinite PackParameters(const std::vector<ParameterPart>& parts, float* flat, int64_t total) {
  std::fill(flat, flat + total, 0.0f);
  NonFinite bad;
  for (size_t p = 0; p < parts.size(); ++p) {
    const ParameterPart& part = parts[p];
    std::memcpy(flat + part.offset, part.data, size_t(part.length) * sizeof(float));
    if (bad.part >= 0) continue;
    // Checked while the copy is still in cache.
    const float* v = flat + part.offset;
    for (int64_t i = 0; i < part.length; ++i) {
      if (!std::isfinite(v[i])) {
        bad = {int64_t(p), i, v[i]};
        break;
      }
    }
  }
  return bad;
}

}  // namespace tfb
