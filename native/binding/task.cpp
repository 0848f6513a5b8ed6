#include "task.h"

#include "../core/error.h"
#include "cancel_token.h"

namespace tfb {

TaskOptions TaskOptions::From(const Napi::Value& value) {
  TaskOptions opts;
  if (value.IsUndefined() || value.IsNull()) return opts;
  Napi::Env env = value.Env();
  if (!value.IsObject()) ThrowArgError(env, "options must be an object");
  Napi::Object obj = value.As<Napi::Object>();
  Napi::Value progress = obj.Get("onProgress");
  if (progress.IsFunction()) {
    opts.on_progress = progress.As<Napi::Function>();
  } else if (!progress.IsUndefined()) {
    ThrowArgError(env, "options.onProgress must be a function");
  }
  Napi::Value cancel = obj.Get("cancel");
  if (!cancel.IsUndefined()) {
    CancelToken* token = CancelToken::Unwrap(cancel);
    if (!token) ThrowArgError(env, "options.cancel must be a CancelToken");
    opts.cancel_flag = token->flag();
  }
  Napi::Value device = obj.Get("device");
  if (device.IsString()) {
    opts.device = device.As<Napi::String>().Utf8Value();
  } else if (!device.IsUndefined()) {
    ThrowArgError(env, "options.device must be 'auto', 'cpu' or 'cuda'");
  }
  return opts;
}

Task::Task(Napi::Env env, const TaskOptions& options, Work work, Finish finish)
    : Napi::AsyncWorker(env, "transformer-fusion:task"),
      deferred_(Napi::Promise::Deferred::New(env)),
      work_(std::move(work)),
      finish_(std::move(finish)),
      cancel_flag_(options.cancel_flag) {
  if (!options.on_progress.IsEmpty()) {
    progress_ = Napi::ThreadSafeFunction::New(env, options.on_progress, "transformer-fusion:progress", 0, 1);
    has_progress_ = true;
  }
}

Task::~Task() {
  if (has_progress_) progress_.Release();
}

Napi::Promise Task::Start(Napi::Env env, const TaskOptions& options, const std::vector<Napi::Value>& keep_alive,
                          Work work, Finish finish) {
  auto* task = new Task(env, options, std::move(work), std::move(finish));
  for (const auto& v : keep_alive) task->keep_alive_.push_back(Napi::Persistent(v));
  Napi::Promise promise = task->deferred_.Promise();
  task->Queue();  // the AsyncWorker deletes itself after OnOK/OnError
  return promise;
}

void Task::Execute() {
  struct Progress {
    double done, total;
  };
  tf::TaskContext::ProgressFn report;
  if (has_progress_) {
    report = [this](double done, double total) {
      auto* p = new Progress{done, total};
      napi_status st = progress_.NonBlockingCall(p, [](Napi::Env env, Napi::Function fn, Progress* data) {
        double d = data->done, t = data->total;
        delete data;
        // A throwing progress callback must not take the process down; the TypeScript
        // layer wraps user callbacks, so this only guards against misuse of the raw addon.
        try {
          fn.Call({Napi::Number::New(env, d), Napi::Number::New(env, t)});
        } catch (const Napi::Error&) {
        }
      });
      if (st != napi_ok) delete p;
    };
  }
  tf::TaskContext ctx(cancel_flag_, report);
  try {
    ctx.check_cancelled();
    work_(ctx);
  } catch (const tf::Cancelled& e) {
    cancelled_ = true;
    SetError(e.what());
  } catch (const std::bad_alloc&) {
    SetError("out of memory");
  } catch (const std::exception& e) {
    SetError(e.what());
  } catch (...) {
    SetError("unknown native error");
  }
}

void Task::OnOK() {
  Napi::Env env = Env();
  deferred_.Resolve(finish_ ? finish_(env) : env.Undefined());
}

void Task::OnError(const Napi::Error& error) {
  Napi::Env env = Env();
  Napi::Error err = Napi::Error::New(env, error.Message());
  if (cancelled_) {
    err.Set("name", Napi::String::New(env, "AbortError"));
    err.Set("code", Napi::String::New(env, "ABORT_ERR"));
  } else {
    err.Set("code", Napi::String::New(env, "ERR_NATIVE"));
  }
  deferred_.Reject(err.Value());
}

void ThrowArgError(Napi::Env env, const std::string& what) { throw Napi::TypeError::New(env, what); }

F32View ReadF32(Napi::Env env, const Napi::Value& value, const std::string& what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float32_array)
    ThrowArgError(env, what + " must be a Float32Array");
  auto arr = value.As<Napi::Float32Array>();
  return {arr.Data(), arr.ElementLength()};
}

tf::Backend& ResolveBackend(Napi::Env env, const std::string& device, const std::string& fn) {
  if (device == "cpu") return tf::cpu_backend();
  if (device == "auto" || device.empty()) return tf::cuda_available() ? tf::cuda_backend() : tf::cpu_backend();
  if (device == "cuda") {
    if (!tf::cuda_available())
      throw Napi::Error::New(env, fn + ": device 'cuda' was asked for, but CUDA is not available: " +
                                      tf::cuda_unavailable_reason());
    return tf::cuda_backend();
  }
  ThrowArgError(env, fn + ": unknown device '" + device + "' (expected 'auto', 'cpu' or 'cuda')");
}

}  // namespace tfb
