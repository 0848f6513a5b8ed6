// The pool behind BigBuffer: large buffers come back for the next request of a similar
// size (so a plan's pages are not faulted in and zeroed again), other sizes do not take
// them, and what the pool keeps stays under its bound.
#include <vector>

#include "../core/ot/big_buffer.h"
#include "check.h"

namespace tf::test {
namespace {

using ot::BigBuffer;
using ot::PagePool;

constexpr size_t kLarge = size_t(1024) * 1024;  // 8 MiB of doubles: pooled

TEST("big buffer: a large buffer given back is reused for the next similar request") {
  const double* first;
  {
    BigBuffer b(kLarge);
    first = b.get();
    CHECK(b.capacity() >= kLarge * sizeof(double));
    b[kLarge - 1] = 1.0;  // touched: its pages are real
  }
  BigBuffer again(kLarge - 1000);  // slightly smaller: still within [need, 2 need]
  CHECK(again.get() == first);
  CHECK(again.size() == kLarge - 1000);
}

TEST("big buffer: a kept buffer more than twice the request is left for a larger one") {
  const double* big;
  {
    BigBuffer b(4 * kLarge);
    big = b.get();
  }
  {
    BigBuffer small(kLarge);  // 1/4 of the kept one: not taken
    CHECK(small.get() != big);
  }
  BigBuffer same(4 * kLarge);
  CHECK(same.get() == big);
}

TEST("big buffer: adopted memory returns through dispose(); small buffers bypass the pool") {
  BigBuffer b(kLarge);
  const size_t capacity = b.capacity();
  double* p = b.release();
  CHECK(b.get() == nullptr);
  BigBuffer::dispose(p, capacity);  // what a JavaScript finaliser does
  BigBuffer back(kLarge);
  CHECK(back.get() == p);

  BigBuffer tiny(16);
  CHECK(tiny.capacity() == 0);
}

TEST("big buffer: the pool keeps at most its capacity, oldest dropped first") {
  const size_t count = PagePool::kCapacity / sizeof(double) / 4;  // four fit, the fifth evicts
  std::vector<const double*> order;
  {
    std::vector<BigBuffer*> live;
    for (int k = 0; k < 5; ++k) live.push_back(new BigBuffer(count));
    for (auto* b : live) order.push_back(b->get());
    for (auto* b : live) delete b;  // given back in order: the first is evicted
  }
  std::vector<BigBuffer*> again;
  for (int k = 0; k < 4; ++k) again.push_back(new BigBuffer(count));
  int reused = 0, first_reused = 0;
  for (auto* b : again) {
    for (size_t k = 1; k < order.size(); ++k) reused += b->get() == order[k];
    first_reused += b->get() == order[0];
  }
  CHECK(reused == 4);
  CHECK(first_reused == 0);
  for (auto* b : again) delete b;

  // Larger than the whole pool: freed at once, never kept.
  { BigBuffer h(PagePool::kCapacity / sizeof(double) + 1); }
  size_t capacity = 0;
  CHECK(PagePool::take(PagePool::kCapacity + 8, capacity) == nullptr);
}

}  // namespace
}  // namespace tf::test
