// A counter-based random stream: every draw is a hash of (key, counter), so a stream is
// fully described by two integers. Training keys its streams by (seed, step, sample):
// the random numbers a sample sees do not depend on threads, batch splits or on how
// many steps ran before a resume.
#pragma once

#include <cstdint>

namespace tf {

// SplitMix64's finaliser: a bijective mix of 64 bits.
inline uint64_t mix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

// The key of sub-stream `index` of stream `key`.
inline uint64_t stream_key(uint64_t key, uint64_t index) { return mix64(key ^ mix64(index + 0x632be59bd9b4e019ULL)); }

class CounterRng {
 public:
  explicit CounterRng(uint64_t key) : key_(key) {}

  uint64_t next() { return mix64(key_ + 0x9e3779b97f4a7c15ULL * ++counter_); }

  // Uniform in [0, n), n >= 1, without modulo bias (rejection on the top 64-bit range).
  uint64_t below(uint64_t n) {
    const uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t x;
    do x = next();
    while (x >= limit);
    return x % n;
  }

 private:
  uint64_t key_;
  uint64_t counter_ = 0;
};

}  // namespace tf
