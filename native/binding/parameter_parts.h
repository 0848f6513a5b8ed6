// A model's parameters handed over as the caller's tensors (Float32Array views, read in
// place) with each one's offset in the model's flat buffer, packed off the JS thread. A
// ViT-B's 86M parameters took ~380 ms of the event loop when JavaScript packed and
// checked them and the constructor copied them; `build()` does both on a worker.
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <vector>

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

}  // namespace tfb
