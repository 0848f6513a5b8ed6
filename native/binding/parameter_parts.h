// A model's parameters handed over as the caller's tensors (Float32Array views, read in
// place) with each one's offset in the model's flat buffer, packed off the JS thread. A
// ViT-B's 86M parameters took ~380 ms of the event loop when JavaScript packed and
// checked them and the constructor copied them; `build()` does both on a worker.
#pragma once

#include <napi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "task.h"

namespace tfb {

struct ParameterPart {
  const float* data;
  int64_t length;
  int64_t offset;
};

// [{ data: Float32Array, offset }] with every part inside [0, total); the arrays are
// appended to `keep` so that they outlive the work. Errors name `what`.
std::vector<ParameterPart> ReadParameterParts(Napi::Env env, const Napi::Value& value, int64_t total,
                                              const std::string& what, std::vector<Napi::Value>& keep);

// The first non-finite value met while packing: part -1 when there was none.
struct NonFinite {
  int64_t part = -1;
  int64_t index = 0;
  float value = 0;
};

// Copies the parts into `flat` (total floats; what no part covers stays zero) and finds
// the first non-finite value, in part order.
NonFinite PackParameters(const std::vector<ParameterPart>& parts, float* flat, int64_t total);

// The work of a static build(): on a worker, packs `parts` into a fresh buffer of `total`
// floats and, when every value is finite, calls make(flat) there (a model or trainer
// copies its parameters in its constructor). Resolves { built: wrap(env, made) } on the
// JS thread, or { nonFinite: { part, index, value } } for the first non-finite value,
// which the TypeScript layer turns into an error naming the tensor and its folder.
template <typename T>
Napi::Promise BuildFromParts(Napi::Env env, const TaskOptions& opts, const std::vector<Napi::Value>& keep,
                             std::vector<ParameterPart> parts, int64_t total,
                             std::function<std::shared_ptr<T>(const float* flat)> make,
                             std::function<Napi::Value(Napi::Env, std::shared_ptr<T>*)> wrap) {
  auto made = std::make_shared<std::shared_ptr<T>>();
  auto bad = std::make_shared<NonFinite>();
  return Task::Start(
      env, opts, keep,
      [parts = std::move(parts), total, make, made, bad](tf::TaskContext& ctx) {
        std::unique_ptr<float[]> flat(new float[size_t(total)]);  // PackParameters fills every value
        *bad = PackParameters(parts, flat.get(), total);
        if (bad->part >= 0) return;
        ctx.check_cancelled();
        *made = make(flat.get());
      },
      [made, bad, wrap](Napi::Env env) -> Napi::Value {
        Napi::Object out = Napi::Object::New(env);
        if (bad->part >= 0) {
          Napi::Object nf = Napi::Object::New(env);
          nf.Set("part", Napi::Number::New(env, double(bad->part)));
          nf.Set("index", Napi::Number::New(env, double(bad->index)));
          nf.Set("value", Napi::Number::New(env, double(bad->value)));
          out.Set("nonFinite", nf);
        } else {
          out.Set("built", wrap(env, made.get()));
        }
        return out;
      });
}

}  // namespace tfb
