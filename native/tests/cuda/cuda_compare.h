// Helpers for the tests that run an op on the CUDA backend and on the CPU backend from
// the same random inputs and compare the two. These tests run only with --device cuda
// (on a machine with a GPU); under --device cpu they return at once, so the CPU run
// stays a CPU run. Every comparison prints its worst error, so a GPU run's log says how
// close each kernel came, not only whether it passed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <initializer_list>
#include <string>
#include <vector>

#include "../../core/backend.h"
#include "../../core/vit/vit_params.h"
#include "../check.h"
#include "../test_device.h"

namespace tf::test {

// The CUDA backend when the run is --device cuda, else nullptr (the test then returns,
// reported as skipped).
inline Backend* cuda_under_test() {
  if (selected_device() != "cuda") {
    record_skip("a CUDA-vs-CPU comparison: runs with --device cuda");
    return nullptr;
  }
  if (!cuda_available()) {
    record_skip("no usable GPU: " + cuda_unavailable_reason());
    return nullptr;
  }
  return &cuda_backend();
}

template <typename T>
DeviceBuffer upload_to(Backend& be, const std::vector<T>& host) {
  DeviceBuffer buf(be, host.size() * sizeof(T));
  if (!host.empty()) buf.upload(host.data());
  return buf;
}

template <typename T>
std::vector<T> download_from(const DeviceBuffer& buf) {
  std::vector<T> host(buf.bytes() / sizeof(T));
  if (!host.empty()) buf.download(host.data());
  return host;
}

// |got - want| <= abs_tol + rel_tol * |want| for every entry; prints the worst entry.
template <typename A, typename B>
void expect_close(const std::string& what, const std::vector<A>& got, const std::vector<B>& want, double abs_tol,
                  double rel_tol) {
  if (got.size() != want.size()) {
    record_failure(__FILE__, __LINE__, what + ": sizes differ");
    return;
  }
  double worst_excess = -1, worst_abs = 0, worst_rel = 0;
  size_t at = 0, bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double g = double(got[i]), w = double(want[i]);
    const double d = std::fabs(g - w), allowed = abs_tol + rel_tol * std::fabs(w);
    const bool both_nan = std::isnan(g) && std::isnan(w), same_inf = std::isinf(g) && g == w;
    if (both_nan || same_inf) continue;
    worst_abs = std::max(worst_abs, d);
    if (std::fabs(w) > 0) worst_rel = std::max(worst_rel, d / std::fabs(w));
    // An infinite reference not matched (same_inf above) makes `allowed` infinite too, and
    // inf - inf is NaN, which would pass: count it as over the bound.
    const double excess = std::isnan(d) || std::isinf(w) ? INFINITY : d - allowed;
    if (excess > 0) ++bad;
    if (excess > worst_excess) {
      worst_excess = excess;
      at = i;
    }
  }
  std::printf("    %s: %zu values, max |diff| %.3g, max rel %.3g%s\n", what.c_str(), got.size(), worst_abs, worst_rel,
              bad ? " <- over the bound" : "");
  if (bad) {
    char buf[320];
    std::snprintf(buf, sizeof buf, "%s: %zu of %zu values off; worst at %zu: cuda %.9g, cpu %.9g (bound %.3g + %.3g rel)",
                  what.c_str(), bad, got.size(), at, double(got[at]), double(want[at]), abs_tol, rel_tol);
    record_failure(__FILE__, __LINE__, buf);
  }
}

inline double max_abs(const std::vector<float>& v) {
  double m = 0;
  for (float x : v) m = std::max(m, double(std::fabs(x)));
  return m;
}

// The absolute bound when one parameter tensor's gradient on the GPU is set against the
// CPU's. Float32 sums taken in another order err relative to the size of their terms, not
// of their result, and for most tensors the two are alike: 1e-3 of the tensor's largest
// entry. A key bias is the exception: its exact gradient is zero (softmax ignores a shift
// that all of one query's scores share), so what either backend computes is the
// cancellation noise of terms as large as the key weights' gradient, and that gradient of
// the same layer sets its bound. The noise itself is checked to be within that bound of zero.
inline double gradient_bound(const std::vector<ParamTensor>& tensors, const ParamTensor& t,
                             const std::vector<float>& cpu_grads, const std::vector<float>& gpu_grads) {
  const auto slice = [](const std::vector<float>& g, const ParamTensor& p) {
    return std::vector<float>(g.begin() + p.offset, g.begin() + p.offset + p.size);
  };
  const std::string suffix = "key.bias";
  const double own = max_abs(slice(cpu_grads, t));
  if (t.name.size() < suffix.size() || t.name.compare(t.name.size() - suffix.size(), suffix.size(), suffix) != 0)
    return 1e-3 * std::max(own, 1e-8);
  const std::string weight = t.name.substr(0, t.name.size() - suffix.size()) + "key.weight";
  const auto w = std::find_if(tensors.begin(), tensors.end(), [&](const ParamTensor& p) { return p.name == weight; });
  if (w == tensors.end()) {
    record_failure(__FILE__, __LINE__, "no " + weight + " beside " + t.name);
    return 0;
  }
  const double scale = max_abs(slice(cpu_grads, *w));
  const double cpu_noise = own, gpu_noise = max_abs(slice(gpu_grads, t));
  if (!(cpu_noise <= 1e-3 * scale && gpu_noise <= 1e-3 * scale)) {
    char buf[240];
    std::snprintf(buf, sizeof buf, "%s: a zero gradient came out as %.3g (cpu) and %.3g (cuda) against %.3g in %s",
                  t.name.c_str(), cpu_noise, gpu_noise, scale, weight.c_str());
    record_failure(__FILE__, __LINE__, buf);
  }
  return 1e-3 * std::max(scale, 1e-8);
}

// expect_close with the absolute bound a fraction of the reference's largest entry: for
// whole-model outputs, where float32 sums in another order err relative to the scale of
// the matrix rather than of each entry.
template <typename T>
void expect_scaled(const std::string& what, const std::vector<T>& got, const std::vector<float>& want,
                   double scale_tol, double rel_tol) {
  expect_close(what, got, want, scale_tol * std::max(max_abs(want), 1e-6), rel_tol);
}

// Bit-for-bit equality (NaN payloads aside); prints how many entries differ.
template <typename T>
void expect_identical(const std::string& what, const std::vector<T>& got, const std::vector<T>& want) {
  if (got.size() != want.size()) {
    record_failure(__FILE__, __LINE__, what + ": sizes differ");
    return;
  }
  size_t diff = 0, first = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const bool same = std::memcmp(&got[i], &want[i], sizeof(T)) == 0 || (std::isnan(double(got[i])) && std::isnan(double(want[i])));
    if (!same && diff++ == 0) first = i;
  }
  std::printf("    %s: %zu values, %s\n", what.c_str(), got.size(),
              diff ? (std::to_string(diff) + " differ from the cpu").c_str() : "bit-identical to the cpu");
  if (diff) {
    char buf[320];
    std::snprintf(buf, sizeof buf, "%s: %zu of %zu values not bit-identical; first at %zu: cuda %.9g, cpu %.9g",
                  what.c_str(), diff, got.size(), first, double(got[first]), double(want[first]));
    record_failure(__FILE__, __LINE__, buf);
  }
}

// After training steps on both backends from the same start: AdamW divides by sqrt(v),
// so a parameter whose gradient is nearly zero can move by up to lr either way on a
// rounding difference. 99.9% of the parameters must agree to 1e-5 (+ 1e-4 relative) and
// every one to 2 lr per step.
inline void expect_trained_parameters(const std::vector<float>& got, const std::vector<float>& want, double lr,
                                      int steps) {
  size_t loose = 0, far = 0;
  double worst = 0;
  for (size_t k = 0; k < want.size(); ++k) {
    const double d = std::fabs(double(got[k]) - double(want[k]));
    worst = std::max(worst, d);
    loose += d > 1e-5 + 1e-4 * std::fabs(double(want[k]));
    far += !(d <= 2 * steps * lr);
  }
  std::printf("    parameters after %d steps: max |diff| %.3g; %zu of %zu beyond 1e-5 (+1e-4 rel), %zu beyond %d lr\n",
              steps, worst, loose, want.size(), far, 2 * steps);
  if (far) record_failure(__FILE__, __LINE__, "parameters moved apart by more than the steps' learning rates allow");
  if (double(loose) > 1e-3 * double(want.size()))
    record_failure(__FILE__, __LINE__, "more than 0.1% of the parameters differ beyond 1e-5 after the steps");
}

// " 2 17 32" for a part's name.
inline std::string dims(std::initializer_list<int64_t> ds) {
  std::string s;
  for (int64_t d : ds) s += " " + std::to_string(d);
  return s;
}

// Runs one part of a test; an exception there is a failure of that part only, and the
// test goes on with the next part.
template <typename Fn>
void part(const std::string& what, Fn&& fn) {
  try {
    fn();
  } catch (const std::exception& e) {
    record_failure(__FILE__, __LINE__, what + ": " + e.what());
  }
}

}  // namespace tf::test
