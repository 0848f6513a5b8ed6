// Checks shared by the kernel tests that run on whichever backend was selected: skipping
// an op the backend has no twin of yet, and insisting that a result does not depend on
// the number of pool threads.
#pragma once

#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#include "../core/error.h"
#include "../core/thread_pool.h"
#include "check.h"

namespace tf::test {

// Runs fn; false (after printing a note) when the backend says the op is not
// implemented there, so that the test can pass on a backend that lacks it.
template <typename Fn>
bool runs_on_backend(Fn&& fn) {
  try {
    fn();
    return true;
  } catch (const Error& e) {
    if (std::string(e.what()).find("is not implemented on") == std::string::npos) throw;
    std::printf("    note: %s\n", e.what());
    return false;
  }
}

// Runs fn with 1, 2 and 3 pool threads and checks that it returns the same bits.
template <typename Fn>
void check_thread_independent(const char* what, Fn&& fn) {
  const int before = num_threads();
  set_num_threads(1);
  const std::vector<float> one = fn();
  for (int t : {2, 3}) {
    set_num_threads(t);
    const std::vector<float> other = fn();
    const bool same = other.size() == one.size() && std::memcmp(other.data(), one.data(), one.size() * sizeof(float)) == 0;
    if (!same) std::printf("    %s differs between 1 and %d threads\n", what, t);
    CHECK(same);
  }
  set_num_threads(before);
}

}  // namespace tf::test
