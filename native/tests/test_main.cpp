// Runs the registered native tests.
//
//   tf_native_tests [--device cpu|cuda] [--isolate] [--list] [name-substring ...]
//
// With --device cuda and no usable GPU the run prints why and exits with 77, which CTest
// reports as "skipped" rather than passed.
//
// --isolate runs every selected test in a process of its own (this executable again,
// with --only-index): a kernel that faults leaves a CUDA context unusable for the rest
// of its process, and isolation keeps one broken kernel from failing every later test.
// A test whose process dies is reported as CRASH. --list prints the test names.
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
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
std::string skip_reason;  // set by record_skip during the current case
}

void record_skip(const std::string& why) { skip_reason = why; }

void record_failure(const char* file, int line, const std::string& what) {
  if (++failures_in_case <= 10) std::printf("    %s:%d: %s\n", file, line, what.c_str());
}

std::string& selected_device() {
  static std::string device = "cpu";
  return device;
}

}  // namespace tf::test

namespace {

using namespace tf::test;

// Runs one test in this process; true when it passed.
bool run_case(const Case& c) {
  failures_in_case = 0;
  skip_reason.clear();
  try {
    c.fn();
  } catch (const std::exception& e) {
    record_failure(__FILE__, __LINE__, std::string("uncaught exception: ") + e.what());
  }
  // Errors of kernels still in flight, or a device left broken, belong to this test.
  try {
    device_backend().synchronize();
  } catch (const std::exception& e) {
    record_failure(__FILE__, __LINE__, std::string("device error after the test: ") + e.what());
  }
  if (failures_in_case == 0 && !skip_reason.empty())
    std::printf("skip %s (%s)\n", c.name.c_str(), skip_reason.c_str());
  else
    std::printf("%s %s\n", failures_in_case ? "FAIL" : "ok  ", c.name.c_str());
  std::fflush(stdout);
  return failures_in_case == 0;
}

// Runs test `index` in a child process (this executable again); 0 passed, 1 failed,
// 2 crashed.
int run_isolated(size_t index, const Case& c) {
  const char* self = "/proc/self/exe";
  std::string idx = std::to_string(index), dev = selected_device();
  std::vector<char*> args = {const_cast<char*>("tf_native_tests"), const_cast<char*>("--device"), dev.data(),
                             const_cast<char*>("--only-index"), idx.data(), nullptr};
  pid_t pid = 0;
  std::fflush(stdout);
  if (posix_spawn(&pid, self, nullptr, nullptr, args.data(), environ) != 0) {
    std::printf("CRASH %s (could not start a process for it)\n", c.name.c_str());
    return 2;
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0) {
  }
  if (WIFEXITED(status) && WEXITSTATUS(status) <= 1) return WEXITSTATUS(status);
  if (WIFSIGNALED(status))
    std::printf("CRASH %s (signal %d)\n", c.name.c_str(), WTERMSIG(status));
  else
    std::printf("CRASH %s (exit status %d)\n", c.name.c_str(), WEXITSTATUS(status));
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> filters;
  bool isolate = false, list = false;
  long only_index = -1;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--device") == 0 && i + 1 < argc) {
      selected_device() = argv[++i];
    } else if (std::strcmp(argv[i], "--isolate") == 0) {
      isolate = true;
    } else if (std::strcmp(argv[i], "--list") == 0) {
      list = true;
    } else if (std::strcmp(argv[i], "--only-index") == 0 && i + 1 < argc) {
      only_index = std::strtol(argv[++i], nullptr, 10);
    } else {
      filters.emplace_back(argv[i]);
    }
  }
  auto wanted = [&](const Case& c) {
    bool w = filters.empty();
    for (const auto& f : filters) w = w || c.name.find(f) != std::string::npos;
    return w;
  };
  if (list) {
    for (const auto& c : registry())
      if (wanted(c)) std::printf("%s\n", c.name.c_str());
    return 0;
  }
  if (selected_device() == "cuda" && !tf::cuda_available()) {
    std::printf("SKIPPED: CUDA tests need a usable GPU: %s\n", tf::cuda_unavailable_reason().c_str());
    return 77;
  }
  if (only_index >= 0) {  // a child of --isolate
    if (size_t(only_index) >= registry().size()) return 2;
    return run_case(registry()[size_t(only_index)]) ? 0 : 1;
  }
  std::printf("device: %s\n", tf::backend_for(selected_device()).describe().c_str());

  int run = 0, failed = 0, crashed = 0, skipped = 0;
  for (size_t i = 0; i < registry().size(); ++i) {
    const Case& c = registry()[i];
    if (!wanted(c)) continue;
    ++run;
    if (isolate) {
      const int r = run_isolated(i, c);
      failed += r != 0;
      crashed += r == 2;
    } else if (!run_case(c)) {
      ++failed;
    } else if (!skip_reason.empty()) {
      ++skipped;
    }
  }
  const std::string skips = skipped ? ", " + std::to_string(skipped) + " skipped" : std::string();
  if (crashed)
    std::printf("%d tests, %d failed (%d of them crashed their process)%s\n", run, failed, crashed, skips.c_str());
  else
    std::printf("%d tests, %d failed%s\n", run, failed, skips.c_str());
  return failed ? 1 : 0;
}
