// Exports for the backend basics: machine info, thread count, GEMM, GELU, and the
// weighted sum that aggregates aligned weights. Each compute export checks its
// arguments here, then hands the work to a Task.
#include <napi.h>

#include "../core/backend.h"
#include "../core/cpu/blas_threads.h"
#include "../core/cpu/kernels.h"
#include "../core/thread_pool.h"
#include "exports.h"
#include "task.h"

namespace tfb {

namespace {

// Runs `kernel` on `be` over host arrays: directly on the CPU, through device copies on
// a GPU. `inputs` are read, `outputs` are written (and read first when `read_outputs`).
void on_backend(tf::Backend& be, const std::vector<F32View>& inputs, const std::vector<F32View>& outputs,
                bool read_outputs, const std::function<void(const std::vector<float*>&)>& kernel) {
  if (be.device() == tf::Device::Cpu) {
    std::vector<float*> ptrs;
    for (const auto& v : inputs) ptrs.push_back(v.data);
    for (const auto& v : outputs) ptrs.push_back(v.data);
    kernel(ptrs);
    return;
  }
  std::vector<tf::DeviceBuffer> bufs;
  std::vector<float*> ptrs;
  for (const auto& v : inputs) {
    bufs.emplace_back(be, v.length * sizeof(float));
    bufs.back().upload(v.data);
  }
  for (const auto& v : outputs) {
    bufs.emplace_back(be, v.length * sizeof(float));
    if (read_outputs) bufs.back().upload(v.data);
  }
  for (auto& b : bufs) ptrs.push_back(b.get<float>());
  kernel(ptrs);
  be.synchronize();
  for (size_t i = 0; i < outputs.size(); ++i) bufs[inputs.size() + i].download(outputs[i].data);
}

size_t matrix_span(int64_t rows, int64_t cols, int64_t ld) { return rows == 0 ? 0 : size_t((rows - 1) * ld + cols); }

Napi::Value Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  Napi::Object out = Napi::Object::New(env);
  out.Set("threads", tf::num_threads());
  out.Set("blas", tf::blas_description());
  const bool blocked = !tf::blas_linked() || tf::cpu::gemm_path() == tf::cpu::GemmPath::Blocked;
  out.Set("gemm", blocked ? "portable blocked kernel" : "BLAS");
  out.Set("cpu", tf::cpu_backend().describe());
  out.Set("cudaCompiled", tf::cuda_compiled());
  out.Set("cudaAvailable", tf::cuda_available());
  if (tf::cuda_available()) {
    out.Set("cuda", tf::cuda_backend().describe());
  } else {
    out.Set("cudaUnavailableReason", tf::cuda_unavailable_reason());
  }
  if (tf::cuda_compiled()) {
    const tf::GpuInfo g = tf::cuda_device_info();
    auto version = [](int v) { return std::to_string(v / 1000) + "." + std::to_string((v % 1000) / 10); };
    if (g.driver_version > 0) out.Set("cudaDriver", version(g.driver_version));
    if (g.runtime_version > 0) out.Set("cudaRuntime", version(g.runtime_version));
    if (g.present) {
      Napi::Object gpu = Napi::Object::New(env);
      gpu.Set("name", g.name);
      gpu.Set("computeCapability", std::to_string(g.compute_major) + "." + std::to_string(g.compute_minor));
      gpu.Set("memoryBytes", double(g.memory_bytes));
      gpu.Set("multiprocessors", g.multiprocessors);
      out.Set("gpu", gpu);
    }
    const std::string cublas = tf::cublas_library();
    out.Set("cublas", cublas.empty() ? env.Null() : Napi::String::New(env, cublas));
  }
  return out;
}

Napi::Value SetThreads(const Napi::CallbackInfo& info) {
  // Each thread is an OS thread (and OpenBLAS makes as many): a typo of 40000 would take
  // the machine's thread limit down with it.
  const double n = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1.0;
  if (!(n >= 0 && n <= tf::kMaxThreads) || n != double(int(n)))
    ThrowArgError(info.Env(), "setThreads: n must be an integer from 0 (the default) to " + std::to_string(tf::kMaxThreads));
  tf::set_num_threads(int(n));
  return Napi::Number::New(info.Env(), tf::num_threads());
}

// gemm(a, b, c, m, n, k, transA, transB, alpha, beta, options): C = alpha op(A) op(B) + beta C,
// row-major with packed rows. Resolves when c holds the result.
Napi::Value Gemm(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32View a = ReadF32(env, info[0], "gemm: a"), b = ReadF32(env, info[1], "gemm: b"), c = ReadF32(env, info[2], "gemm: c");
  for (int i = 3; i < 10; ++i)
    if (!info[i].IsNumber() && !info[i].IsBoolean()) ThrowArgError(env, "gemm: expected (a, b, c, m, n, k, transA, transB, alpha, beta)");
  int64_t m = info[3].As<Napi::Number>().Int64Value(), n = info[4].As<Napi::Number>().Int64Value(),
          k = info[5].As<Napi::Number>().Int64Value();
  bool ta = info[6].ToBoolean(), tb = info[7].ToBoolean();
  float alpha = info[8].As<Napi::Number>().FloatValue(), beta = info[9].As<Napi::Number>().FloatValue();
  TaskOptions opts = TaskOptions::From(info[10]);
  int64_t lda = ta ? m : k, ldb = tb ? k : n, ldc = n;
  try {
    tf::check_gemm_args(ta, tb, m, n, k, std::max<int64_t>(lda, 1), std::max<int64_t>(ldb, 1), std::max<int64_t>(ldc, 1));
  } catch (const tf::Error& e) {
    ThrowArgError(env, e.what());
  }
  if (a.length < matrix_span(ta ? k : m, lda, lda) || b.length < matrix_span(tb ? n : k, ldb, ldb) ||
      c.length < matrix_span(m, n, ldc))
    ThrowArgError(env, "gemm: a, b or c is shorter than the given dimensions need");
  tf::Backend& be = tf::backend_for(opts.device);
  return Task::Start(env, opts, {info[0], info[1], info[2]}, [=, &be](tf::TaskContext&) {
    on_backend(be, {a, b}, {c}, beta != 0.0f, [&](const std::vector<float*>& p) {
      be.gemm(ta, tb, m, n, k, alpha, p[0], std::max<int64_t>(lda, 1), p[1], std::max<int64_t>(ldb, 1), beta, p[2],
              std::max<int64_t>(ldc, 1));
    });
  });
}

// gelu(x, out, options) and geluBackward(x, dout, dinp, options).
Napi::Value Gelu(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32View x = ReadF32(env, info[0], "gelu: x"), out = ReadF32(env, info[1], "gelu: out");
  if (out.length != x.length) ThrowArgError(env, "gelu: out must have the length of x");
  TaskOptions opts = TaskOptions::From(info[2]);
  tf::Backend& be = tf::backend_for(opts.device);
  return Task::Start(env, opts, {info[0], info[1]}, [=, &be](tf::TaskContext&) {
    on_backend(be, {x}, {out}, false,
               [&](const std::vector<float*>& p) { be.gelu_forward(p[1], p[0], int64_t(x.length)); });
  });
}

Napi::Value GeluBackward(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32View x = ReadF32(env, info[0], "geluBackward: x"), dout = ReadF32(env, info[1], "geluBackward: dout"),
          dinp = ReadF32(env, info[2], "geluBackward: dinp");
  if (dout.length != x.length || dinp.length != x.length)
    ThrowArgError(env, "geluBackward: x, dout and dinp must have the same length");
  TaskOptions opts = TaskOptions::From(info[3]);
  tf::Backend& be = tf::backend_for(opts.device);
  return Task::Start(env, opts, {info[0], info[1], info[2]}, [=, &be](tf::TaskContext&) {
    on_backend(be, {x, dout}, {dinp}, false,
               [&](const std::vector<float*>& p) { be.gelu_backward(p[2], p[0], p[1], int64_t(x.length)); });
  });
}

// weightedSum(inputs: Float32Array[], weights: number[], out, options): out = sum_i w_i x_i.
// Works through the inputs in chunks so that progress is smooth and cancellation prompt
// even for tensors of hundreds of millions of elements.
Napi::Value WeightedSum(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray() || !info[1].IsArray()) ThrowArgError(env, "weightedSum: inputs and weights must be arrays");
  Napi::Array in_arr = info[0].As<Napi::Array>(), w_arr = info[1].As<Napi::Array>();
  F32View out = ReadF32(env, info[2], "weightedSum: out");
  if (in_arr.Length() == 0 || in_arr.Length() != w_arr.Length())
    ThrowArgError(env, "weightedSum: need one weight per input and at least one input");
  std::vector<F32View> inputs;
  std::vector<float> weights;
  std::vector<Napi::Value> keep = {info[2]};
  for (uint32_t i = 0; i < in_arr.Length(); ++i) {
    Napi::Value v = in_arr.Get(i);
    inputs.push_back(ReadF32(env, v, "weightedSum: inputs[" + std::to_string(i) + "]"));
    if (inputs.back().length != out.length) ThrowArgError(env, "weightedSum: every input must have the length of out");
    Napi::Value w = w_arr.Get(i);
    if (!w.IsNumber()) ThrowArgError(env, "weightedSum: weights[" + std::to_string(i) + "] must be a number");
    weights.push_back(w.As<Napi::Number>().FloatValue());
    keep.push_back(v);
  }
  TaskOptions opts = TaskOptions::From(info[3]);
  tf::Backend& be = tf::backend_for(opts.device);
  return Task::Start(env, opts, keep, [=, &be](tf::TaskContext& ctx) {
    const int64_t total = int64_t(out.length), chunk = int64_t(1) << 22;
    const double steps = double(inputs.size()) * double((total + chunk - 1) / chunk);
    double done = 0;
    for (int64_t off = 0; off < total; off += chunk) {
      const int64_t len = std::min(chunk, total - off);
      auto slice = [&](const F32View& v) { return F32View{v.data + off, size_t(len)}; };
      std::vector<F32View> ins;
      for (const auto& v : inputs) ins.push_back(slice(v));
      on_backend(be, ins, {slice(out)}, false, [&](const std::vector<float*>& p) {
        for (size_t i = 0; i < ins.size(); ++i) {
          ctx.check_cancelled();
          be.axpby(p[ins.size()], p[i], weights[i], i == 0 ? 0.0f : 1.0f, len);
          ctx.progress(++done, steps);
        }
      });
    }
  });
}

// dot(x, y, options) -> Promise<number>: sum x_i y_i in float64.
Napi::Value Dot(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32View x = ReadF32(env, info[0], "dot: x"), y = ReadF32(env, info[1], "dot: y");
  if (x.length != y.length) ThrowArgError(env, "dot: x and y must have the same length");
  TaskOptions opts = TaskOptions::From(info[2]);
  tf::Backend& be = tf::backend_for(opts.device);
  auto result = std::make_shared<double>(0.0);
  return Task::Start(
      env, opts, {info[0], info[1]},
      [=, &be](tf::TaskContext&) {
        on_backend(be, {x, y}, {}, false, [&](const std::vector<float*>& p) { *result = be.dot(p[0], p[1], int64_t(x.length)); });
      },
      [result](Napi::Env env) -> Napi::Value { return Napi::Number::New(env, *result); });
}

}  // namespace

void RegisterBasicOps(Napi::Env env, Napi::Object exports) {
  Export<Info>(env, exports, "info");
  Export<SetThreads>(env, exports, "setThreads");
  Export<Gemm>(env, exports, "gemm");
  Export<Gelu>(env, exports, "gelu");
  Export<GeluBackward>(env, exports, "geluBackward");
  Export<WeightedSum>(env, exports, "weightedSum");
  Export<Dot>(env, exports, "dot");
}

}  // namespace tfb
