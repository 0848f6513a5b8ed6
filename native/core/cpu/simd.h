// SIMD helpers for the encoder kernels: 8-float vectors through GCC/Clang vector
// extensions, and vectorised exp/erf. The hot functions that use them are compiled
// twice on x86-64 (AVX2+FMA and baseline) with TF_SIMD_CLONES and the loader picks one,
// so a prebuilt addon runs on any x86-64 CPU and still uses AVX2 where it exists.
//
// Why our own exp/erf: std::exp and std::erf are scalar library calls that block
// vectorisation; softmax and GELU evaluate them once per attention score and per MLP
// activation, which on a small ViT is as many calls as there are multiply-adds in a
// head's attention.
#pragma once

#include <cstdint>
#include <cstring>

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(TF_NO_MULTIVERSION)
#define TF_SIMD_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define TF_SIMD_CLONES
#endif

#define TF_SIMD_INLINE inline __attribute__((always_inline))

// GCC warns that passing 32-byte vectors changes the ABI when AVX is off. Every helper
// here is force-inlined into its caller, so no vector crosses a call boundary; the
// warning stays off for the files that include this header.
#pragma GCC diagnostic ignored "-Wpsabi"

namespace tf::cpu::simd {

constexpr int kLanes = 8;
typedef float vf8 __attribute__((vector_size(32), aligned(4)));
typedef int32_t vi8 __attribute__((vector_size(32), aligned(4)));

TF_SIMD_INLINE vf8 load(const float* p) {
  vf8 v;
  std::memcpy(&v, p, sizeof v);
  return v;
}
TF_SIMD_INLINE void store(float* p, vf8 v) { std::memcpy(p, &v, sizeof v); }
// Scalar-vector arithmetic broadcasts; written this way GCC emits one broadcast
// instruction instead of eight inserts.
TF_SIMD_INLINE vf8 splat(float x) { return vf8{} + x; }

TF_SIMD_INLINE float hsum(vf8 v) {
  return ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]));
}
TF_SIMD_INLINE float hmax(vf8 v) {
  float m = v[0];
  for (int i = 1; i < kLanes; ++i) m = v[i] > m ? v[i] : m;
  return m;
}
TF_SIMD_INLINE vf8 vmax(vf8 a, vf8 b) { return a > b ? a : b; }
TF_SIMD_INLINE vf8 vmin(vf8 a, vf8 b) { return a < b ? a : b; }
TF_SIMD_INLINE vf8 vabs(vf8 x) {
  vi8 bits = (vi8)x & 0x7fffffff;
  return (vf8)bits;
}

// e^x with about 1 ulp of error on [-87, 88]; 0 below, +inf-free clamp above. Cody-Waite
// range reduction x = n ln2 + r, |r| <= ln2/2, then a degree-6 polynomial for e^r.
TF_SIMD_INLINE vf8 exp(vf8 x) {
  x = vmin(vmax(x, splat(-87.33654f)), splat(88.37626f));
  const vf8 magic = splat(12582912.0f);  // 1.5 * 2^23: adding it rounds to an integer
  vf8 n = (x * splat(1.44269504088896341f) + magic) - magic;
  vf8 r = x - n * splat(0.693359375f);
  r = r - n * splat(-2.12194440e-4f);
  vf8 p = splat(1.9875691500e-4f);
  p = p * r + splat(1.3981999507e-3f);
  p = p * r + splat(8.3334519073e-3f);
  p = p * r + splat(4.1665795894e-2f);
  p = p * r + splat(1.6666665459e-1f);
  p = p * r + splat(5.0000001201e-1f);
  vf8 y = p * r * r + r + splat(1.0f);
  vi8 e = (__builtin_convertvector(n, vi8) + 127) << 23;
  // n reaches 128 only at the top of the range; split the scale in two to stay finite.
  vi8 half = e > (vi8){} + (254 << 23);
  vi8 e1 = half ? (e - (1 << 23)) : e;
  vf8 s = (vf8)e1;
  y = y * s;
  return half ? y * splat(2.0f) : y;
}

// erf(x) to about 1.5e-7 absolute (Abramowitz & Stegun 7.1.26), with the sign restored.
TF_SIMD_INLINE vf8 erf(vf8 x) {
  vf8 a = vabs(x);
  vf8 t = splat(1.0f) / (splat(1.0f) + splat(0.3275911f) * a);
  vf8 p = splat(1.061405429f);
  p = p * t + splat(-1.453152027f);
  p = p * t + splat(1.421413741f);
  p = p * t + splat(-0.284496736f);
  p = p * t + splat(0.254829592f);
  vf8 y = splat(1.0f) - p * t * exp(-(a * a));
  return x < splat(0.0f) ? -y : y;
}

// gelu(x) = 0.5 x (1 + erf(x / sqrt 2)), Hugging Face's exact "gelu".
TF_SIMD_INLINE vf8 gelu(vf8 x) { return splat(0.5f) * x * (splat(1.0f) + erf(x * splat(0.70710678118654752f))); }

// Scalar forms of the same approximations, for loop tails (same results as a lane).
TF_SIMD_INLINE float exp1(float x) {
  float buf[kLanes] = {x};
  store(buf, exp(load(buf)));
  return buf[0];
}
TF_SIMD_INLINE float gelu1(float x) {
  float buf[kLanes] = {x};
  store(buf, gelu(load(buf)));
  return buf[0];
}

}  // namespace tf::cpu::simd
