// The core's own thread pool. Every parallel loop of the CPU backend runs here, so the
// number of busy cores is under one control. BLAS is kept from oversubscribing them:
// OpenBLAS is told to use the same thread count, and it is only called from outside a
// parallel region (inside one, GEMM falls back to the single-threaded portable kernel).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tf {

class ThreadPool {
 public:
  // fn(begin, end) processes the half-open index range [begin, end).
  using RangeFn = std::function<void(int64_t begin, int64_t end)>;

  explicit ThreadPool(int num_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int num_threads() const { return num_threads_; }

  // Splits [0, n) into contiguous chunks of at least `grain` items and runs them on the
  // pool, the calling thread included. Returns when every chunk is done; rethrows the
  // first exception a chunk threw. A call made from inside a parallel region runs
  // serially on the calling thread, so nested loops never deadlock or oversubscribe.
  void parallel_for(int64_t n, int64_t grain, const RangeFn& fn);

  // True on a thread that is currently executing a chunk of a parallel_for.
  static bool in_parallel_region();

  // Idle workers poll for a moment before they sleep (see thread_pool.cpp); park() sends
  // them to sleep at once. Called before a threaded BLAS call, whose own threads need the
  // cores. The next parallel_for wakes them as usual.
  void park() { parked_.store(true, std::memory_order_release); }

 private:
  void worker_loop(int index);

  int num_threads_;
  std::vector<std::thread> workers_;
  std::mutex region_mutex_;  // one parallel region at a time (callers from several JS tasks)
  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable work_done_;
  const RangeFn* job_ = nullptr;
  int64_t job_n_ = 0;
  int64_t job_chunk_ = 0;
  int64_t job_chunks_ = 0;
  int64_t next_chunk_ = 0;
  // Atomic so that a thread can spin on them for a moment before it sleeps; they are
  // still only written under mutex_.
  std::atomic<int64_t> chunks_done_{0};
  std::atomic<uint64_t> generation_{0};
  std::atomic<bool> stopping_{false};
  std::atomic<bool> parked_{false};
  std::exception_ptr error_;
};

// The most threads set_num_threads takes (the binding refuses more).
constexpr int kMaxThreads = 1024;

// The process-wide pool. Its size defaults to the number of online cores (or the
// TF_NUM_THREADS environment variable) and can be changed with set_num_threads; a region
// already running keeps the pool it started on (shared ownership) until it finishes.
std::shared_ptr<ThreadPool> pool();
void set_num_threads(int n);  // n <= 0 restores the default
int num_threads();

inline void parallel_for(int64_t n, int64_t grain, const ThreadPool::RangeFn& fn) {
  pool()->parallel_for(n, grain, fn);
}

}  // namespace tf
