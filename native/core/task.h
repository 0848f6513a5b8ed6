// What a long-running native computation needs from whoever started it: a way to report
// progress and a flag that asks it to stop. The core knows nothing about Node; the
// binding fills these in with a thread-safe JS callback and a cancel token.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "error.h"

namespace tf {

class TaskContext {
 public:
  // done/total in whatever unit the computation counts (layers, batches, iterations).
  using ProgressFn = std::function<void(double done, double total)>;

  TaskContext() = default;
  TaskContext(std::shared_ptr<std::atomic<bool>> cancel_flag, ProgressFn progress)
      : cancel_flag_(std::move(cancel_flag)), progress_(std::move(progress)) {}

  bool cancelled() const { return cancel_flag_ && cancel_flag_->load(std::memory_order_relaxed); }

  // Call at safe points (between layers, batches, solver checks): throws tf::Cancelled.
  void check_cancelled() const {
    if (cancelled()) throw Cancelled();
  }

  // A context for one part of this task, units [begin, end) of `total`: it shares the
  // cancellation flag, and progress reported within the part lands in that range of the
  // whole (so a loop over sub-problems reports one monotonic progress).
  TaskContext part(double begin, double end, double total) {
    ProgressFn fn;
    if (progress_)
      fn = [this, begin, end, total](double done, double of) {
        progress(begin + (end - begin) * (of > 0 ? std::min(1.0, done / of) : 1.0), total);
      };
    return TaskContext(cancel_flag_, std::move(fn));
  }

  // Reports progress, at most every 50 ms except for the final report (done >= total),
  // so that tight loops can call it freely without flooding the JS thread.
  void progress(double done, double total) {
    if (!progress_) return;
    auto now = std::chrono::steady_clock::now();
    bool final_report = done >= total;
    if (!final_report && now - last_report_ < std::chrono::milliseconds(50)) return;
    last_report_ = now;
    progress_(done, total);
  }

 private:
  std::shared_ptr<std::atomic<bool>> cancel_flag_;
  ProgressFn progress_;
  std::chrono::steady_clock::time_point last_report_{};
};

}  // namespace tf
