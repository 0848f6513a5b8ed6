// The task glue of a model's capture(): the activation store stays locked while the
// model writes into it, a store disposed meanwhile is an error, and the promise
// resolves to the number of samples taken.
#pragma once

#include <napi.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "activation_store_wrap.h"
#include "task.h"

namespace tfb {

using CaptureWork = std::function<int64_t(tf::ActivationStore& store, tf::TaskContext& ctx)>;

Napi::Value StartCapture(Napi::Env env, const TaskOptions& options, const std::vector<Napi::Value>& keep,
                         std::shared_ptr<StoreHandle> handle, CaptureWork work);

}  // namespace tfb
