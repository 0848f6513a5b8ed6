#include "capture_task.h"

namespace tfb {

Napi::Value StartCapture(Napi::Env env, const TaskOptions& options, const std::vector<Napi::Value>& keep,
                         std::shared_ptr<StoreHandle> handle, CaptureWork work) {
  auto taken = std::make_shared<int64_t>(0);
  return Task::Start(
      env, options, keep,
      [handle, work, taken](tf::TaskContext& ctx) {
        std::lock_guard<std::mutex> lock(handle->mutex);
        if (!handle->store) throw tf::Error("capture: the activation store was disposed");
        *taken = work(*handle->store, ctx);
      },
      [taken](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, double(*taken)); });
}

}  // namespace tfb
