// An uninitialised float64 buffer for the n x m matrices the solvers return (plans and
// cost matrices handed to JavaScript, which also serve as the Sinkhorn kernel's storage
// during a solve). Large ones are 2 MiB aligned and, on Linux, marked for transparent
// huge pages, and they are recycled: fresh memory costs a page fault per page and
// zeroing by the kernel, which for a solve of a few milliseconds was a quarter of its
// time (1024 x 1024: 8 MB zeroed per plan).
#pragma once

#include <cstddef>
#include <cstdlib>
#include <list>
#include <mutex>
#include <new>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace tf::ot {

// Large buffers given back (by a BigBuffer that still owns its memory, or by the
// finaliser of a JavaScript array that adopted one) wait here for the next request of a
// similar size. Bounded: at most kCapacity bytes are kept, oldest dropped first, so an
// idle process holds little. 64 MiB keeps the plans and costs of layers up to ~1500
// neurons; a ViT-B fusion's 3072 x 3072 ones (72 MiB) go straight back to the system,
// which keeps its peak RSS where it was without the pool (bench/fusion/RESULTS.md).
class PagePool {
 public:
  static constexpr size_t kCapacity = size_t(64) << 20;

  // A kept buffer of at least `bytes` and at most twice that (the smallest such), or null.
  static void* take(size_t bytes, size_t& capacity) {
    std::lock_guard<std::mutex> lock(state().mutex);
    auto& kept = state().kept;
    auto best = kept.end();
    for (auto it = kept.begin(); it != kept.end(); ++it)
      if (it->bytes >= bytes && it->bytes <= 2 * bytes && (best == kept.end() || it->bytes < best->bytes)) best = it;
    if (best == kept.end()) return nullptr;
    void* p = best->data;
    capacity = best->bytes;
    state().total -= best->bytes;
    kept.erase(best);
    return p;
  }

  static void give(void* data, size_t bytes) {
    if (!data) return;
    if (bytes > kCapacity) {
      std::free(data);
      return;
    }
    std::lock_guard<std::mutex> lock(state().mutex);
    auto& s = state();
    while (s.total + bytes > kCapacity) {
      std::free(s.kept.front().data);
      s.total -= s.kept.front().bytes;
      s.kept.pop_front();
    }
    s.kept.push_back({data, bytes});
    s.total += bytes;
  }

 private:
  struct Entry {
    void* data;
    size_t bytes;
  };
  struct State {
    std::mutex mutex;
    std::list<Entry> kept;
    size_t total = 0;
  };
  static State& state() {
    static State* s = new State();  // never destroyed: finalisers may run during exit
    return *s;
  }
};

class BigBuffer {
 public:
  static constexpr size_t kHugePage = size_t(2) << 20;

  explicit BigBuffer(size_t count) : count_(count) {
    const size_t bytes = count * sizeof(double);
    if (bytes >= 2 * kHugePage) {
      data_ = static_cast<double*>(PagePool::take(bytes, capacity_));
      if (!data_) {
        capacity_ = (bytes + kHugePage - 1) / kHugePage * kHugePage;
        data_ = static_cast<double*>(std::aligned_alloc(kHugePage, capacity_));
#ifdef __linux__
        if (data_) madvise(data_, capacity_, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
      }
    } else {
      capacity_ = 0;  // small: plain malloc, not pooled
      data_ = static_cast<double*>(std::malloc(bytes ? bytes : sizeof(double)));
    }
    if (!data_) throw std::bad_alloc();
  }
  ~BigBuffer() { dispose(data_, capacity_); }
  BigBuffer(const BigBuffer&) = delete;
  BigBuffer& operator=(const BigBuffer&) = delete;

  double* get() const { return data_; }
  // Gives up ownership: the caller hands the memory back with dispose(p, capacity()).
  double* release() {
    double* p = data_;
    data_ = nullptr;
    return p;
  }
  // Bytes allocated (0 for a small, malloc'd buffer): what dispose() needs.
  size_t capacity() const { return capacity_; }
  static void dispose(void* data, size_t capacity) {
    if (capacity) {
      PagePool::give(data, capacity);
    } else {
      std::free(data);
    }
  }
  double& operator[](size_t i) const { return data_[i]; }
  size_t size() const { return count_; }

 private:
  size_t count_;
  size_t capacity_ = 0;
  double* data_ = nullptr;
};

}  // namespace tf::ot
