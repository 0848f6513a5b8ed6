// Each exports file of the binding registers its functions through one of these.
#pragma once

#include <napi.h>

namespace tfb {

void RegisterBasicOps(Napi::Env env, Napi::Object exports);
void RegisterOtOps(Napi::Env env, Napi::Object exports);
void RegisterFusionOps(Napi::Env env, Napi::Object exports);
void RegisterDataOps(Napi::Env env, Napi::Object exports);

}  // namespace tfb
