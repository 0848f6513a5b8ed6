// Runs a native computation on a libuv worker thread and returns a Promise.
//
// Every exported compute function goes through Task::Start: arguments are read and
// checked on the JS thread, the work runs off it (the event loop never blocks), C++
// exceptions become rejected promises (tf::Cancelled as an AbortError), progress reaches
// an optional JS callback through a thread-safe function, and a CancelToken stops it.
#pragma once

#include <napi.h>

#include <functional>
#include <string>
#include <vector>

#include "../core/backend.h"
#include "../core/task.h"

namespace tfb {

// The options object every compute call takes: { onProgress?, cancel?, device? }.
struct TaskOptions {
  Napi::Function on_progress;  // empty when absent
  std::shared_ptr<std::atomic<bool>> cancel_flag;
  std::string device = "auto";

  static TaskOptions From(const Napi::Value& value);
};

// The backend a device name selects ('auto': the GPU when one is usable, else the CPU).
// Throws a JS error, prefixed with `fn`, for an unknown name or for 'cuda' without a
// usable GPU (saying why there is none).
tf::Backend& ResolveBackend(Napi::Env env, const std::string& device, const std::string& fn);

class Task : public Napi::AsyncWorker {
 public:
  using Work = std::function<void(tf::TaskContext&)>;
  // Builds the resolved value on the JS thread once the work succeeded (undefined if empty).
  using Finish = std::function<Napi::Value(Napi::Env)>;

  // `keep_alive` holds the JS values (typed arrays) the work reads or writes, so they
  // cannot be collected while it runs.
  static Napi::Promise Start(Napi::Env env, const TaskOptions& options, const std::vector<Napi::Value>& keep_alive,
                             Work work, Finish finish = nullptr);

  ~Task() override;

 protected:
  void Execute() override;
  void OnOK() override;
  void OnError(const Napi::Error& error) override;

 private:
  Task(Napi::Env env, const TaskOptions& options, Work work, Finish finish);

  Napi::Promise::Deferred deferred_;
  std::vector<Napi::Reference<Napi::Value>> keep_alive_;
  Work work_;
  Finish finish_;
  Napi::ThreadSafeFunction progress_;
  bool has_progress_ = false;
  std::shared_ptr<std::atomic<bool>> cancel_flag_;
  bool cancelled_ = false;
};

// Runs fn (on the JS thread) so that any C++ exception it throws (a
// tf::Error from the core, std::bad_alloc) becomes a JS exception instead of
// terminating the process; node-addon-api itself only converts Napi::Error.
template <typename Fn>
auto CallGuarded(Napi::Env env, Fn&& fn) -> decltype(fn()) {
  try {
    return fn();
  } catch (const Napi::Error&) {
    throw;
  } catch (const std::exception& e) {
    throw Napi::Error::New(env, e.what());
  }
}

// An exported function wrapped in CallGuarded.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
Napi::Value Guarded(const Napi::CallbackInfo& info) {
  return CallGuarded(info.Env(), [&] { return F(info); });
}

// Registers F under `name` on `exports`, guarded.
template <Napi::Value (*F)(const Napi::CallbackInfo&)>
void Export(Napi::Env env, Napi::Object exports, const char* name) {
  exports.Set(name, Napi::Function::New<Guarded<F>>(env, name));
}

// Throws a JS TypeError naming the function and argument, e.g. "gemm: a must be a Float32Array".
[[noreturn]] void ThrowArgError(Napi::Env env, const std::string& what);

// A Float32Array argument: its data pointer and length in elements.
struct F32View {
  float* data;
  size_t length;
};
F32View ReadF32(Napi::Env env, const Napi::Value& value, const std::string& what);

}  // namespace tfb
