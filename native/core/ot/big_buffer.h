// An uninitialised float64 buffer for the n x m matrices the solvers keep or return (the
// absorbed Sinkhorn kernel, plans and cost matrices handed to JavaScript). Large ones are
// 2 MiB aligned and, on Linux, marked for transparent huge pages: first touch then faults
// in 2 MiB pages instead of 4 KiB ones, a visible share of a solve for matrices of tens
// of MB.
#pragma once

#include <cstddef>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <new>

#ifdef __linux__
#include <sys/mman.h>
#endif

namespace tf::ot {

class BigBuffer {
 public:
  explicit BigBuffer(size_t count) : count_(count) {
    const size_t bytes = count * sizeof(double);
    constexpr size_t kHuge = size_t(2) << 20;
    if (bytes >= 2 * kHuge) {
      const size_t rounded = (bytes + kHuge - 1) / kHuge * kHuge;
      data_ = static_cast<double*>(std::aligned_alloc(kHuge, rounded));
#ifdef __linux__
      if (data_) madvise(data_, rounded, MADV_HUGEPAGE);  // advice only: failure is harmless
#endif
    } else {
      data_ = static_cast<double*>(std::malloc(bytes ? bytes : sizeof(double)));
    }
    if (!data_) throw std::bad_alloc();
  }
  ~BigBuffer() { std::free(data_); }
  BigBuffer(const BigBuffer&) = delete;
  BigBuffer& operator=(const BigBuffer&) = delete;

  double* get() const { return data_; }
  // Gives up ownership: the caller frees the memory with std::free.
  double* release() {
    double* p = data_;
    data_ = nullptr;
    return p;
  }
  double& operator[](size_t i) const { return data_[i]; }
  size_t size() const { return count_; }

 private:
  size_t count_;
  double* data_ = nullptr;
};

// Keeps the most recently released scratch buffer (the largest seen) for the next solve:
// fresh memory costs a page fault per page and zeroing by the kernel, which for a solve
// of a few milliseconds is a large share. Holds at most one buffer; concurrent solves
// simply allocate their own.
class ScratchCache {
 public:
  static std::unique_ptr<BigBuffer> acquire(size_t count) {
    std::lock_guard<std::mutex> lock(mutex());
    auto& kept = slot();
    if (kept && kept->size() >= count) return std::move(kept);
    return std::make_unique<BigBuffer>(count);
  }
  static void release(std::unique_ptr<BigBuffer> buffer) {
    std::lock_guard<std::mutex> lock(mutex());
    auto& kept = slot();
    if (!kept || kept->size() < buffer->size()) kept = std::move(buffer);
  }

 private:
  static std::mutex& mutex() {
    static std::mutex m;
    return m;
  }
  static std::unique_ptr<BigBuffer>& slot() {
    static std::unique_ptr<BigBuffer> s;
    return s;
  }
};

}  // namespace tf::ot
