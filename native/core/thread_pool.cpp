#include "thread_pool.h"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <chrono>
#include <memory>

#include "cpu/blas_threads.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define TF_CPU_RELAX() _mm_pause()
#else
#define TF_CPU_RELAX() ((void)0)
#endif

namespace tf {

namespace {
thread_local int region_depth = 0;

struct RegionGuard {
  RegionGuard() { ++region_depth; }
  ~RegionGuard() { --region_depth; }
};

// How long a thread polls before it blocks on a condition variable. Loops such as
// Sinkhorn's run a parallel region every ~0.1 ms; waking a sleeping thread (a futex, and
// in a virtual machine a halted vCPU) costs tens of microseconds each time, so a thread
// that will be needed again almost at once is better kept awake briefly, as OpenMP
// runtimes do.
// TF_POOL_SPIN_US changes it; 0 makes idle threads sleep at once (a machine shared with
// other busy processes).
std::chrono::microseconds spin_time() {
  static const std::chrono::microseconds t = [] {
    const char* env = std::getenv("TF_POOL_SPIN_US");
    const long us = env ? std::strtol(env, nullptr, 10) : 100;
    return std::chrono::microseconds(std::max(0L, us));
  }();
  return t;
}

template <typename Ready>
bool spin_until(const Ready& ready) {
  const auto spin = spin_time();
  if (spin.count() == 0) return ready();
  const auto until = std::chrono::steady_clock::now() + spin;
  for (;;) {
    for (int k = 0; k < 64; ++k) {
      if (ready()) return true;
      TF_CPU_RELAX();
    }
    if (std::chrono::steady_clock::now() >= until) return ready();
  }
}
}  // namespace

ThreadPool::ThreadPool(int num_threads) : num_threads_(std::max(1, num_threads)) {
  for (int i = 1; i < num_threads_; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  work_ready_.notify_all();
  for (auto& t : workers_) t.join();
}

bool ThreadPool::in_parallel_region() { return region_depth > 0; }

void ThreadPool::parallel_for(int64_t n, int64_t grain, const RangeFn& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(1, grain);
  int64_t max_chunks = (n + grain - 1) / grain;
  if (num_threads_ == 1 || max_chunks == 1 || in_parallel_region()) {
    RegionGuard guard;
    fn(0, n);
    return;
  }
  std::lock_guard<std::mutex> region(region_mutex_);
  // A few chunks per thread balance uneven work without much scheduling overhead.
  int64_t chunks = std::min<int64_t>(max_chunks, int64_t(num_threads_) * 4);
  int64_t chunk = (n + chunks - 1) / chunks;
  chunks = (n + chunk - 1) / chunk;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    job_ = &fn;
    job_n_ = n;
    job_chunk_ = chunk;
    job_chunks_ = chunks;
    next_chunk_ = 0;
    chunks_done_ = 0;
    error_ = nullptr;
    parked_ = false;
    ++generation_;
  }
  work_ready_.notify_all();

  // The caller works too, then waits for the chunks the workers took.
  RegionGuard guard;
  for (;;) {
    int64_t c;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (next_chunk_ >= job_chunks_) break;
      c = next_chunk_++;
    }
    std::exception_ptr err;
    try {
      fn(c * chunk, std::min(n, (c + 1) * chunk));
    } catch (...) {
      err = std::current_exception();
    }
    std::lock_guard<std::mutex> lock(mutex_);
    if (err && !error_) error_ = err;
    ++chunks_done_;
  }
  spin_until([&] { return chunks_done_.load(std::memory_order_acquire) == chunks; });
  std::unique_lock<std::mutex> lock(mutex_);
  work_done_.wait(lock, [&] { return chunks_done_ == job_chunks_; });
  job_ = nullptr;
  if (error_) std::rethrow_exception(error_);
}

void ThreadPool::worker_loop(int) {
  uint64_t seen = 0;
  std::unique_lock<std::mutex> lock(mutex_);
  for (;;) {
    auto ready = [&] { return stopping_ || (generation_ != seen && job_ && next_chunk_ < job_chunks_); };
    if (!ready()) {
      lock.unlock();
      spin_until([&] {
        return stopping_.load(std::memory_order_acquire) || parked_.load(std::memory_order_acquire) ||
               generation_.load(std::memory_order_acquire) != seen;
      });
      lock.lock();
    }
    work_ready_.wait(lock, ready);
    if (stopping_) return;
    seen = generation_;
    while (job_ && next_chunk_ < job_chunks_) {
      int64_t c = next_chunk_++;
      const RangeFn* fn = job_;
      int64_t begin = c * job_chunk_, end = std::min(job_n_, (c + 1) * job_chunk_);
      lock.unlock();
      std::exception_ptr err;
      {
        RegionGuard guard;
        try {
          (*fn)(begin, end);
        } catch (...) {
          err = std::current_exception();
        }
      }
      lock.lock();
      if (err && !error_) error_ = err;
      if (++chunks_done_ == job_chunks_) work_done_.notify_all();
    }
  }
}

namespace {
std::mutex pool_mutex;
std::shared_ptr<ThreadPool> global_pool;

int default_threads() {
  if (const char* env = std::getenv("TF_NUM_THREADS")) {
    int n = std::atoi(env);
    if (n > 0) return n;
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : int(hw);
}
}  // namespace

std::shared_ptr<ThreadPool> pool() {
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (!global_pool) {
    global_pool = std::make_shared<ThreadPool>(default_threads());
    set_blas_threads(global_pool->num_threads());
  }
  return global_pool;
}

void set_num_threads(int n) {
  n = n > 0 ? n : default_threads();
  std::lock_guard<std::mutex> lock(pool_mutex);
  if (global_pool && global_pool->num_threads() == n) return;
  global_pool = std::make_shared<ThreadPool>(n);
  set_blas_threads(n);
}

int num_threads() { return pool()->num_threads(); }

}  // namespace tf
