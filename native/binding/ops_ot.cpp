// Exports for optimal transport: otCostMatrix, otSinkhorn, otEmd. Arguments and options
// are read and checked here on the JS thread; the solvers run in a Task. Option defaults
// live in the core's option structs (native/core/ot/ot.h): an absent option keeps them.
#include <napi.h>

#include <memory>

#include "../core/ot/ot.h"
#include "exports.h"
#include "task.h"

namespace tfb {

namespace {

struct F64View {
  double* data;
  size_t length;
};

F64View ReadF64(Napi::Env env, const Napi::Value& value, const std::string& what) {
  if (!value.IsTypedArray() || value.As<Napi::TypedArray>().TypedArrayType() != napi_float64_array)
    ThrowArgError(env, what + " must be a Float64Array");
  auto arr = value.As<Napi::Float64Array>();
  return {arr.Data(), arr.ElementLength()};
}

int64_t ReadSize(Napi::Env env, const Napi::Value& value, const std::string& what) {
  if (!value.IsNumber()) ThrowArgError(env, what + " must be a number");
  double d = value.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d != double(int64_t(d))) ThrowArgError(env, what + " must be a non-negative integer");
  return int64_t(d);
}

// Reads optional fields of an options object, each checked for its type.
class Fields {
 public:
  Fields(Napi::Env env, const Napi::Value& value, std::string fn) : env_(env), fn_(std::move(fn)) {
    if (value.IsUndefined() || value.IsNull()) return;
    if (!value.IsObject()) ThrowArgError(env, fn_ + ": options must be an object");
    obj_ = value.As<Napi::Object>();
  }
  bool has(const char* key) const { return !obj_.IsEmpty() && !obj_.Get(key).IsUndefined(); }
  void number(const char* key, double& out) const {
    if (!has(key)) return;
    Napi::Value v = obj_.Get(key);
    if (!v.IsNumber()) ThrowArgError(env_, fn_ + ": " + key + " must be a number");
    out = v.As<Napi::Number>().DoubleValue();
  }
  template <typename Int>
  void integer(const char* key, Int& out) const {
    if (!has(key)) return;
    double d = 0;
    number(key, d);
    if (d != double(int64_t(d)) || d < 0 || d > double(std::numeric_limits<Int>::max()))
      ThrowArgError(env_, fn_ + ": " + key + " must be a non-negative integer");
    out = Int(d);
  }
  void boolean(const char* key, bool& out) const {
    if (!has(key)) return;
    Napi::Value v = obj_.Get(key);
    if (!v.IsBoolean()) ThrowArgError(env_, fn_ + ": " + key + " must be a boolean");
    out = v.As<Napi::Boolean>().Value();
  }
  std::string string(const char* key, const std::string& fallback) const {
    if (!has(key)) return fallback;
    Napi::Value v = obj_.Get(key);
    if (!v.IsString()) ThrowArgError(env_, fn_ + ": " + key + " must be a string");
    return v.As<Napi::String>().Utf8Value();
  }
  Fields object(const char* key) const { return Fields(env_, has(key) ? obj_.Get(key) : env_.Undefined(), fn_ + ": " + key); }
  [[noreturn]] void bad(const char* key, const std::string& value, const char* allowed) const {
    ThrowArgError(env_, fn_ + ": " + key + " must be " + allowed + ", got '" + value + "'");
  }

 private:
  Napi::Env env_;
  std::string fn_;
  Napi::Object obj_;
};

// The OT solvers have no CUDA version yet: 'auto' runs them on the CPU, 'cuda' is refused.
void RequireCpu(Napi::Env env, const TaskOptions& opts, const char* fn) {
  if (opts.device == "cuda")
    ThrowArgError(env, std::string(fn) + ": runs on the CPU only for now; use device 'cpu' or 'auto'");
  if (opts.device != "cpu" && opts.device != "auto")
    ThrowArgError(env, std::string(fn) + ": unknown device '" + opts.device + "'");
}

// otCostMatrix(xa, aRows, aCols, xb, bRows, bCols, options, out, taskOptions)
//   -> Promise<{ scale, percentClipped }>
// xa, xb: row-major Float32Array matrices; options.layout 'columns' (neurons are columns,
// activations) or 'rows' (neurons are rows, weights); out: Float64Array nA x nB.
Napi::Value CostMatrix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "otCostMatrix";
  F32View xa = ReadF32(env, info[0], "otCostMatrix: xa"), xb = ReadF32(env, info[3], "otCostMatrix: xb");
  int64_t ar = ReadSize(env, info[1], "otCostMatrix: aRows"), ac = ReadSize(env, info[2], "otCostMatrix: aCols");
  int64_t br = ReadSize(env, info[4], "otCostMatrix: bRows"), bc = ReadSize(env, info[5], "otCostMatrix: bCols");
  if (xa.length != size_t(ar * ac) || xb.length != size_t(br * bc))
    ThrowArgError(env, "otCostMatrix: xa / xb lengths do not match their rows x cols");
  Fields f(env, info[6], fn);
  tf::ot::CostOptions o;
  const std::string layout = f.string("layout", "columns");
  if (layout != "columns" && layout != "rows") f.bad("layout", layout, "'columns' or 'rows'");
  const std::string metric = f.string("metric", "euclidean");
  if (metric == "euclidean") {
    o.metric = tf::ot::Metric::Euclidean;
  } else if (metric == "cosine") {
    o.metric = tf::ot::Metric::Cosine;
  } else {
    f.bad("metric", metric, "'euclidean' or 'cosine'");
  }
  const std::string norm = f.string("normalize", "none");
  if (norm == "none") {
    o.normalize = tf::ot::Normalization::None;
  } else if (norm == "log") {
    o.normalize = tf::ot::Normalization::Log;
  } else if (norm == "max") {
    o.normalize = tf::ot::Normalization::Max;
  } else if (norm == "median") {
    o.normalize = tf::ot::Normalization::Median;
  } else if (norm == "mean") {
    o.normalize = tf::ot::Normalization::Mean;
  } else {
    f.bad("normalize", norm, "'log', 'max', 'median', 'mean' or 'none'");
  }
  f.boolean("squared", o.squared);
  f.boolean("unitNorm", o.unit_norm);
  if (f.has("clip")) {
    Fields clip = f.object("clip");
    o.clip = true;
    clip.number("reg", o.clip_reg);
    clip.number("min", o.clip_min);
    clip.number("max", o.clip_max);
  }
  const bool columns = layout == "columns";
  tf::ot::NeuronView a = columns ? tf::ot::NeuronView::of_columns(xa.data, ar, ac) : tf::ot::NeuronView::of_rows(xa.data, ar, ac);
  tf::ot::NeuronView b = columns ? tf::ot::NeuronView::of_columns(xb.data, br, bc) : tf::ot::NeuronView::of_rows(xb.data, br, bc);
  if (a.dim != b.dim)
    ThrowArgError(env, "otCostMatrix: a and b must have the same number of features per neuron (" +
                           std::to_string(a.dim) + " vs " + std::to_string(b.dim) + ")");
  F64View out = ReadF64(env, info[7], "otCostMatrix: out");
  if (out.length != size_t(a.count * b.count)) ThrowArgError(env, "otCostMatrix: out must have nA x nB elements");
  TaskOptions opts = TaskOptions::From(info[8]);
  RequireCpu(env, opts, fn);
  auto result = std::make_shared<tf::ot::CostInfo>();
  return Task::Start(
      env, opts, {info[0], info[3], info[7]},
      [=](tf::TaskContext& ctx) { *result = tf::ot::cost_matrix(a, b, o, out.data, b.count, &ctx); },
      [result](Napi::Env env) -> Napi::Value {
        Napi::Object r = Napi::Object::New(env);
        r.Set("scale", result->scale);
        r.Set("percentClipped", result->percent_clipped);
        return r;
      });
}

void ReadMarginals(Napi::Env env, const Napi::CallbackInfo& info, const char* fn, F64View& a, F64View& b, F64View& c,
                   int64_t& n, int64_t& m) {
  const std::string name(fn);
  a = ReadF64(env, info[0], name + ": a");
  b = ReadF64(env, info[1], name + ": b");
  c = ReadF64(env, info[2], name + ": cost");
  n = ReadSize(env, info[3], name + ": n");
  m = ReadSize(env, info[4], name + ": m");
  if (a.length != size_t(n) || b.length != size_t(m) || c.length != size_t(n * m))
    ThrowArgError(env, name + ": a, b and cost must have n, m and n x m elements");
}

// otSinkhorn(a, b, cost, n, m, options, plan, logU, logV, taskOptions)
//   -> Promise<{ iterations, marginalError, converged, cost, absorptions }>
Napi::Value Sinkhorn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "otSinkhorn";
  F64View a, b, c;
  int64_t n, m;
  ReadMarginals(env, info, fn, a, b, c, n, m);
  Fields f(env, info[5], fn);
  tf::ot::SinkhornOptions o;
  f.number("reg", o.reg);
  f.integer("numItermax", o.max_iter);
  f.number("stopThr", o.tol);
  f.integer("checkEvery", o.check_every);
  const std::string method = f.string("method", "sinkhorn");
  if (method == "sinkhorn") {
    o.method = tf::ot::SinkhornMethod::Scaling;
  } else if (method == "sinkhorn_log") {
    o.method = tf::ot::SinkhornMethod::LogSumExp;
  } else {
    f.bad("method", method, "'sinkhorn' or 'sinkhorn_log'");
  }
  if (f.has("epsilonScaling")) {
    Fields e = f.object("epsilonScaling");
    o.epsilon_scaling.enabled = true;
    e.number("regStart", o.epsilon_scaling.reg_start);
    e.number("factor", o.epsilon_scaling.factor);
    e.integer("stageItermax", o.epsilon_scaling.stage_max_iter);
    e.number("stageStopThr", o.epsilon_scaling.stage_tol);
  }
  F64View plan = ReadF64(env, info[6], "otSinkhorn: plan"), lu = ReadF64(env, info[7], "otSinkhorn: logU"),
          lv = ReadF64(env, info[8], "otSinkhorn: logV");
  if (plan.length != size_t(n * m) || lu.length != size_t(n) || lv.length != size_t(m))
    ThrowArgError(env, "otSinkhorn: plan, logU and logV must have n x m, n and m elements");
  TaskOptions opts = TaskOptions::From(info[9]);
  RequireCpu(env, opts, fn);
  auto result = std::make_shared<tf::ot::SinkhornResult>();
  return Task::Start(
      env, opts, {info[0], info[1], info[2], info[6], info[7], info[8]},
      [=](tf::TaskContext& ctx) {
        *result = tf::ot::sinkhorn(a.data, b.data, c.data, n, m, o, plan.data, lu.data, lv.data, &ctx);
      },
      [result](Napi::Env env) -> Napi::Value {
        Napi::Object r = Napi::Object::New(env);
        r.Set("iterations", result->iterations);
        r.Set("marginalError", result->marginal_error);
        r.Set("converged", result->converged);
        r.Set("cost", result->transport_cost);
        r.Set("absorptions", result->absorptions);
        return r;
      });
}

// otEmd(a, b, cost, n, m, options, plan, u, v, taskOptions)
//   -> Promise<{ cost, solver, iterations, optimal, massRescaled }>
Napi::Value Emd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "otEmd";
  F64View a, b, c;
  int64_t n, m;
  ReadMarginals(env, info, fn, a, b, c, n, m);
  Fields f(env, info[5], fn);
  tf::ot::EmdOptions o;
  f.integer("numItermax", o.max_iter);
  f.boolean("centerDual", o.center_dual);
  const std::string solver = f.string("solver", "auto");
  if (solver == "auto") {
    o.solver = tf::ot::EmdSolver::Auto;
  } else if (solver == "network_simplex") {
    o.solver = tf::ot::EmdSolver::NetworkSimplex;
  } else if (solver == "assignment") {
    o.solver = tf::ot::EmdSolver::Assignment;
  } else {
    f.bad("solver", solver, "'auto', 'network_simplex' or 'assignment'");
  }
  F64View plan = ReadF64(env, info[6], "otEmd: plan"), u = ReadF64(env, info[7], "otEmd: u"),
          v = ReadF64(env, info[8], "otEmd: v");
  if (plan.length != size_t(n * m) || u.length != size_t(n) || v.length != size_t(m))
    ThrowArgError(env, "otEmd: plan, u and v must have n x m, n and m elements");
  TaskOptions opts = TaskOptions::From(info[9]);
  RequireCpu(env, opts, fn);
  auto result = std::make_shared<tf::ot::EmdResult>();
  return Task::Start(
      env, opts, {info[0], info[1], info[2], info[6], info[7], info[8]},
      [=](tf::TaskContext& ctx) {
        *result = tf::ot::emd(a.data, b.data, c.data, n, m, o, plan.data, u.data, v.data, &ctx);
      },
      [result](Napi::Env env) -> Napi::Value {
        Napi::Object r = Napi::Object::New(env);
        r.Set("cost", result->transport_cost);
        r.Set("solver", result->solver == tf::ot::EmdSolver::Assignment ? "assignment" : "network_simplex");
        r.Set("iterations", double(result->iterations));
        r.Set("optimal", result->optimal);
        r.Set("massRescaled", result->mass_rescaled);
        return r;
      });
}

}  // namespace

void RegisterOtOps(Napi::Env env, Napi::Object exports) {
  Export<CostMatrix>(env, exports, "otCostMatrix");
  Export<Sinkhorn>(env, exports, "otSinkhorn");
  Export<Emd>(env, exports, "otEmd");
}

}  // namespace tfb
