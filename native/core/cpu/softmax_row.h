// Softmax of one row of attention scores in place, shared by the dense and the padded
// attention kernels so that both normalise a row the same way.
#pragma once

#include <cmath>
#include <cstdint>

#include "simd.h"

namespace tf::cpu {

// Softmax of one row in place over its first n scores.
TF_SIMD_INLINE void softmax_row(float* s, int64_t n) {
  using namespace simd;
  const int64_t nv = n / kLanes * kLanes;
  float m = -INFINITY;
  if (nv) {
    vf8 vm = load(s);
    for (int64_t j = kLanes; j < nv; j += kLanes) vm = vmax(vm, load(s + j));
    m = hmax(vm);
  }
  for (int64_t j = nv; j < n; ++j) m = s[j] > m ? s[j] : m;
  const vf8 vmx = splat(m);
  vf8 acc = splat(0.0f);
  for (int64_t j = 0; j < nv; j += kLanes) {
    vf8 e = exp(load(s + j) - vmx);
    store(s + j, e);
    acc += e;
  }
  float sum = hsum(acc);
  for (int64_t j = nv; j < n; ++j) {
    s[j] = exp1(s[j] - m);
    sum += s[j];
  }
  const vf8 inv = splat(1.0f / sum);
  for (int64_t j = 0; j < nv; j += kLanes) store(s + j, load(s + j) * inv);
  for (int64_t j = nv; j < n; ++j) s[j] *= 1.0f / sum;
}

}  // namespace tf::cpu
