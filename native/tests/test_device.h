// Helpers for tests that run a kernel on the selected backend and compare with a
// float64 reference computed on the host.
#pragma once

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "../core/backend.h"

namespace tf::test {

// The backend under test (--device on the command line; "cpu" by default).
std::string& selected_device();
inline Backend& device_backend() { return backend_for(selected_device()); }

inline std::vector<float> random_vector(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = dist(rng);
  return v;
}

// Copies host data into a new buffer of the backend under test.
inline DeviceBuffer to_device(Backend& be, const std::vector<float>& host) {
  DeviceBuffer buf(be, host.size() * sizeof(float));
  if (!host.empty()) buf.upload(host.data());
  return buf;
}

inline std::vector<float> to_host(const DeviceBuffer& buf) {
  std::vector<float> host(buf.bytes() / sizeof(float));
  if (!host.empty()) buf.download(host.data());
  return host;
}

}  // namespace tf::test
