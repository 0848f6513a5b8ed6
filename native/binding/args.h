// Argument readers shared by the exports: typed arrays, sizes, and an options-object
// reader that checks each field's type and names the function and key in its errors.
// Plus the two ways results go back: adopting a native buffer without a copy, or copying.
#pragma once

#include <napi.h>

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "../core/ot/big_buffer.h"
#include "task.h"

namespace tfb {

struct F64View {
  double* data;
  size_t length;
};

F64View ReadF64(Napi::Env env, const Napi::Value& value, const std::string& what);

// A non-negative integer argument.
int64_t ReadSize(Napi::Env env, const Napi::Value& value, const std::string& what);

// Reads optional fields of an options object, each checked for its type.
class Fields {
 public:
  Fields(Napi::Env env, const Napi::Value& value, std::string fn);
  bool has(const char* key) const { return !obj_.IsEmpty() && !obj_.Get(key).IsUndefined(); }
  void number(const char* key, double& out) const;
  template <typename Int>
  void integer(const char* key, Int& out) const {
    if (!has(key)) return;
    double d = 0;
    number(key, d);
    if (d != double(int64_t(d)) || d < 0 || d > double(std::numeric_limits<Int>::max()))
      ThrowArgError(env_, fn_ + ": " + key + " must be a non-negative integer");
    out = Int(d);
  }
  void boolean(const char* key, bool& out) const;
  std::string string(const char* key, const std::string& fallback) const;
  Fields object(const char* key) const;
  [[noreturn]] void bad(const char* key, const std::string& value, const char* allowed) const;
  // Throws "<fn>: <key> <what>" (a JS TypeError), naming the option as the caller spelt it.
  [[noreturn]] void fail(const char* key, const std::string& what) const { ThrowArgError(env_, fn_ + ": " + key + " " + what); }
  const std::string& fn() const { return fn_; }

 private:
  Napi::Env env_;
  std::string fn_;
  Napi::Object obj_;
};

// A Float64Array that owns `buffer`'s memory (freed when the array is collected).
Napi::Float64Array Adopt(Napi::Env env, tf::ot::BigBuffer& buffer);

Napi::Float64Array Copy(Napi::Env env, const std::vector<double>& v);
Napi::Float32Array Copy(Napi::Env env, const std::vector<float>& v);

}  // namespace tfb
