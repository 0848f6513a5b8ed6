// A minimal test harness for the native core: tests register themselves with TEST(...),
// CHECK/CHECK_NEAR record failures without stopping the test, and main() in
// test_main.cpp runs the tests whose names match the command line.
#pragma once

#include <cmath>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

namespace tf::test {

struct Case {
  std::string name;
  std::function<void()> fn;
};

std::vector<Case>& registry();
void record_failure(const char* file, int line, const std::string& what);
// Marks the running test as skipped (printed as "skip <name> (<why>)" unless it failed).
void record_skip(const std::string& why);

struct Register {
  Register(const char* name, std::function<void()> fn) { registry().push_back({name, std::move(fn)}); }
};

}  // namespace tf::test

#define TF_TEST_CAT2(a, b) a##b
#define TF_TEST_CAT(a, b) TF_TEST_CAT2(a, b)
#define TEST(name)                                                                   \
  static void TF_TEST_CAT(test_fn_, __LINE__)();                                     \
  static ::tf::test::Register TF_TEST_CAT(test_reg_, __LINE__)(name, TF_TEST_CAT(test_fn_, __LINE__)); \
  static void TF_TEST_CAT(test_fn_, __LINE__)()

#define CHECK(cond)                                                                   \
  do {                                                                                \
    if (!(cond)) ::tf::test::record_failure(__FILE__, __LINE__, "CHECK(" #cond ")"); \
  } while (0)

// |actual - expected| <= tol, NaN never passes.
#define CHECK_NEAR(actual, expected, tol)                                                                   \
  do {                                                                                                      \
    double tf_a_ = (actual), tf_e_ = (expected), tf_t_ = (tol);                                             \
    if (!(std::fabs(tf_a_ - tf_e_) <= tf_t_)) {                                                             \
      char tf_buf_[256];                                                                                    \
      std::snprintf(tf_buf_, sizeof tf_buf_, "%s = %.9g, expected %.9g (tolerance %.3g)", #actual, tf_a_, \
                    tf_e_, tf_t_);                                                                          \
      ::tf::test::record_failure(__FILE__, __LINE__, tf_buf_);                                              \
    }                                                                                                       \
  } while (0)

#define CHECK_THROWS(expr)                                                                      \
  do {                                                                                          \
    bool tf_threw_ = false;                                                                     \
    try {                                                                                       \
      (void)(expr);                                                                             \
    } catch (...) {                                                                             \
      tf_threw_ = true;                                                                         \
    }                                                                                           \
    if (!tf_threw_) ::tf::test::record_failure(__FILE__, __LINE__, "expected a throw: " #expr); \
  } while (0)
