// Runs the registered native tests.
//
//   tf_native_tests [--device cpu|cuda] [name-substring ...]
//
// With --device cuda and no usable GPU the run prints why and exits with 77, which CTest
// reports as "skipped" rather than passed.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "../core/backend.h"
#include "check.h"
#include "test_device.h"

namespace tf::test {

std::vector<Case>& registry() {
  static std::vector<Case> cases;
  return cases;
}

namespace {
int failures_in_case = 0;
}

void record_failure(const char* file, int line, const std::string& what) {
  if (++failures_in_case <= 10) std::printf("    %s:%d: %s\n", file, line, what.c_str());
}

std::string& selected_device() {
  static std::string device = "cpu";
  return device;
}

}  // namespace tf::test

int main(int argc, char** argv) {
  using namespace tf::test;
  std::vector<std::string> filters;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
      selected_device() = argv[++i];
    } else {
      filters.emplace_back(argv[i]);
    }
  }
  if (selected_device() == "cuda" && !tf::cuda_available()) {
    std::printf("SKIPPED: CUDA tests need a usable GPU: %s\n", tf::cuda_unavailable_reason().c_str());
    return 77;
  }
  std::printf("device: %s\n", tf::backend_for(selected_device()).describe().c_str());

  int run = 0, failed = 0;
  for (const auto& c : registry()) {
    bool wanted = filters.empty();
    for (const auto& f : filters) wanted = wanted || c.name.find(f) != std::string::npos;
    if (!wanted) continue;
    ++run;
    failures_in_case = 0;
    try {
      c.fn();
    } catch (const std::exception& e) {
      record_failure(__FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
    }
    std::printf("%s %s\n", failures_in_case ? "FAIL" : "ok  ", c.name.c_str());
    if (failures_in_case) ++failed;
  }
  std::printf("%d tests, %d failed\n", run, failed);
  return failed ? 1 : 0;
}
