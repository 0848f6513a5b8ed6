// Elementwise CPU kernels: GELU (forward and backward side by side) and axpby.
#include <algorithm>
#include <cmath>
#include <vector>

#include "../thread_pool.h"
#include "kernels.h"
#include "simd.h"

namespace tf::cpu {

namespace {
constexpr int64_t kGrain = 1 << 14;  // elements per chunk: enough work to amortise a task
constexpr float kInvSqrt2 = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
}  // namespace

// gelu(x) = x * Phi(x), Phi the standard normal CDF (Hugging Face's exact "gelu").
void gelu_forward(float* out, const float* inp, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) {
      float x = inp[i];
      out[i] = 0.5f * x * (1.0f + std::erf(x * kInvSqrt2));
    }
  });
}

// gelu'(x) = Phi(x) + x * phi(x), phi the standard normal density. Vectorised (the
// training pass calls it on every MLP activation), with the same erf and exp as the
// encoder's fused bias + GELU forward.
namespace {
TF_SIMD_CLONES
void gelu_backward_range(float* dinp, const float* inp, const float* dout, int64_t n) {
  using namespace simd;
  const int64_t nv = n / kLanes * kLanes;
  for (int64_t i = 0; i < nv; i += kLanes) {
    const vf8 x = load(inp + i);
    const vf8 cdf = splat(0.5f) * (splat(1.0f) + erf(x * splat(kInvSqrt2)));
    const vf8 pdf = splat(kInvSqrt2Pi) * exp(splat(-0.5f) * x * x);
    store(dinp + i, load(dout + i) * (cdf + x * pdf));
  }
  for (int64_t i = nv; i < n; ++i) {
    float buf[kLanes] = {inp[i]};
    const vf8 x = load(buf);
    const vf8 cdf = splat(0.5f) * (splat(1.0f) + erf(x * splat(kInvSqrt2)));
    const vf8 pdf = splat(kInvSqrt2Pi) * exp(splat(-0.5f) * x * x);
    store(buf, cdf + x * pdf);
    dinp[i] = dout[i] * buf[0];
  }
}
}  // namespace

void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    gelu_backward_range(dinp + begin, inp + begin, dout + begin, end - begin);
  });
}

void axpby(float* y, const float* x, float alpha, float beta, int64_t n) {
  parallel_for(n, kGrain, [&](int64_t begin, int64_t end) {
    if (beta == 0.0f) {
      for (int64_t i = begin; i < end; ++i) y[i] = alpha * x[i];
    } else {
      for (int64_t i = begin; i < end; ++i) y[i] = alpha * x[i] + beta * y[i];
    }
  });
}

double dot(const float* x, const float* y, int64_t n) {
  // Per-chunk float64 partial sums, added in chunk order: the result does not depend on
  // which thread ran which chunk.
  const int64_t chunks = (n + kGrain - 1) / kGrain;
  std::vector<double> partial(size_t(chunks > 0 ? chunks : 0), 0.0);
  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double s = 0.0;
      for (int64_t i = c * kGrain, end = std::min(n, (c + 1) * kGrain); i < end; ++i) s += double(x[i]) * double(y[i]);
      partial[size_t(c)] = s;
    }
  });
  double total = 0.0;
  for (double p : partial) total += p;
  return total;
}

}  // namespace tf::cpu
