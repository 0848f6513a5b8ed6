// Argument readers and result builders the ViT and BERT model bindings share: the
// config fields, build()'s captureNames, and the layout and
// activation-store plan objects handed back to the TypeScript adapters.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

#include "../core/activations/activation_store.h"
#include "../core/activations/capture_point.h"
#include "../core/backend.h"
#include "../core/error.h"
#include "../core/vit/vit_params.h"
#include "task.h"

namespace tfb {

// obj[key] as an integer, a float or a boolean; errors read "<prefix>: <key> must be ...".
int64_t ReadConfigInt(Napi::Env env, const Napi::Object& obj, const char* key, const char* prefix);
float ReadConfigFloat(Napi::Env env, const Napi::Object& obj, const char* key, const char* prefix);
bool ReadConfigBool(Napi::Env env, const Napi::Object& obj, const char* key, const char* prefix);

// The config after its own validate(), whose tf::Error becomes a JS TypeError.
template <typename Config>
Config Validated(Napi::Env env, Config c) {
  try {
    c.validate();
  } catch (const tf::Error& e) {
    ThrowArgError(env, e.what());
  }
  return c;
}

// The captureNames argument of a model's build(): null or undefined (the capture points'
// own names), or one string per capture point; errors name the class `cls`.
std::vector<std::string> ReadCaptureNames(Napi::Env env, const Napi::Value& value, const char* cls);

// The backend a model runs on: 'auto' picks the GPU when one is usable (every op of the
// ViT and BERT forward passes has a CUDA twin), else the CPU; 'cuda' without a usable
// GPU is an error, naming the class `cls`, that says why.
tf::Backend& ModelBackend(const std::string& device, const char* cls);

// { total, tensors: [{ name, shape, offset }], capturePoints: [{ name, tokens, width, padded? }] };
// `padded` is listed only for models whose capture points can carry padding (BERT).
Napi::Object DescribeLayout(Napi::Env env, int64_t total, const std::vector<tf::ParamTensor>& tensors,
                            const std::vector<tf::CapturePoint>& points, bool with_padded);

// planActivationStore(options) for a model with `points` on backend `be` (where its
// store would live): { bytes, limit, entries: [{ name, rowsPerSample, width }] }. With
// `kept_only` the entries the options filter out are left off the list.
Napi::Object DescribeStorePlan(Napi::Env env, const tf::ActivationStoreOptions& options,
                               const std::vector<tf::CapturePoint>& points, const tf::Backend& be, bool kept_only);

}  // namespace tfb
