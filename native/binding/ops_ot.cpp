// Exports for optimal transport: otCostMatrix, otSinkhorn, otEmd. Arguments and options
// are read and checked here on the JS thread; the solvers run in a Task. Option defaults
// live in the core's option structs (native/core/ot/ot.h): an absent option keeps them.
// The n x m outputs are allocated natively (huge-page backed, not zero-filled) and handed
// to JavaScript as Float64Arrays over that memory, without a copy.
#include <napi.h>

#include <memory>
#include <utility>
#include <vector>

#include "../core/ot/big_buffer.h"
#include "../core/ot/input_checks.h"
#include "../core/ot/ot.h"
#include "../core/ot/ot_device.h"
#include "args.h"
#include "exports.h"
#include "neuron_sides.h"
#include "ot_options.h"
#include "task.h"

namespace tfb {

namespace {

// Exact OT has no CUDA version: 'auto' runs it on the CPU, 'cuda' is refused.
void RequireCpu(Napi::Env env, const TaskOptions& opts, const char* fn) {
  if (opts.device == "cuda")
    ThrowArgError(env, std::string(fn) + ": exact OT runs on the CPU only; use device 'cpu' or 'auto'");
  if (opts.device != "cpu" && opts.device != "auto")
    ThrowArgError(env, std::string(fn) + ": unknown device '" + opts.device + "'");
}

// One side of otCostMatrix: a Float32Array with its rows and cols, or a store entry.
Side CostSide(Napi::Env env, const Napi::Value& x, const Napi::Value& rows, const Napi::Value& cols, bool columns,
              const std::string& what) {
  Part p;
  if (x.IsTypedArray()) {
    F32View v = ReadF32(env, x, what);
    p.data = v.data;
    p.rows = ReadSize(env, rows, what + " rows");
    p.cols = ReadSize(env, cols, what + " cols");
    if (v.length != size_t(p.rows * p.cols)) ThrowArgError(env, "costMatrix: " + what + " length does not match its rows x cols");
  } else {
    p = ReadPart(env, x, "costMatrix: " + what);
    if (!columns) ThrowArgError(env, "costMatrix: " + what + " is an activation store entry, whose neurons are columns: use layout 'columns'");
  }
  Side s;
  s.neurons_are_columns = columns;
  s.neurons = columns ? p.cols : p.rows;
  s.features = columns ? p.rows : p.cols;
  s.parts.push_back(std::move(p));
  return s;
}

// otCostMatrix(xa, aRows, aCols, xb, bRows, bCols, options, taskOptions)
//   -> Promise<{ data: Float64Array (nA x nB), n, m, scale, percentClipped }>
// xa, xb: row-major Float32Array matrices, or activation store entries { store, name }
// (rows and cols are then the entry's, and it is read where the store keeps it: on the
// GPU for a store there). options.layout 'columns' (neurons are columns, activations) or
// 'rows' (neurons are rows, weights).
Napi::Value CostMatrix(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "costMatrix";  // as lib/ot.ts calls it
  Fields f(env, info[6], fn);
  const std::string layout = f.string("layout", "columns");
  if (layout != "columns" && layout != "rows") f.bad("layout", layout, "'columns' or 'rows'");
  const tf::ot::CostOptions o = ReadCostOptions(f);
  const bool columns = layout == "columns";
  auto a = std::make_shared<Side>(CostSide(env, info[0], info[1], info[2], columns, "xa"));
  auto b = std::make_shared<Side>(CostSide(env, info[3], info[4], info[5], columns, "xb"));
  if (a->features != b->features)
    ThrowArgError(env, "costMatrix: a and b must have the same number of features per neuron (" +
                           std::to_string(a->features) + " vs " + std::to_string(b->features) + ")");
  TaskOptions opts = TaskOptions::From(info[7]);
  tf::Backend* be = &ResolveBackend(env, opts.device, fn);
  struct Out {
    tf::ot::CostInfo info;
    tf::ot::BigBuffer data;
    explicit Out(size_t k) : data(k) {}
  };
  const int64_t n = a->neurons, m = b->neurons;
  auto out = std::make_shared<Out>(size_t(n * m));
  return Task::Start(
      env, opts, {info[0], info[3]},
      [=](tf::TaskContext& ctx) {
        // Features from JavaScript are checked here, off the JS thread; a store's are finite by construction.
        for (const auto& [side, name] : {std::pair{a.get(), "xa.data"}, std::pair{b.get(), "xb.data"}}) {
          const Part& p = side->parts[0];
          if (!p.store) tf::ot::check_finite_features(p.data, p.rows * p.cols, "costMatrix", name);
        }
        auto locks = LockStores({a.get(), b.get()});
        std::vector<float> scratch_a, scratch_b;
        const tf::ot::NeuronView va = View(*a, *be, scratch_a), vb = View(*b, *be, scratch_b);
        out->info = tf::ot::cost_matrix_on(*be, va, vb, o, out->data.get(), m, &ctx);
      },
      [out, n, m, dev = tf::device_name(be->device())](Napi::Env env) -> Napi::Value {
        Napi::Object r = Napi::Object::New(env);
        r.Set("data", Adopt(env, out->data));
        r.Set("n", double(n));
        r.Set("m", double(m));
        r.Set("scale", out->info.scale);
        r.Set("percentClipped", out->info.percent_clipped);
        r.Set("device", dev);
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

// What a solver hands back: its result, the plan (a pooled buffer that JS adopts without
// a copy) and the two dual vectors.
template <typename Result>
struct Solved {
  Result res;
  tf::ot::BigBuffer plan;
  std::vector<double> u, v;
  Solved(int64_t n, int64_t m) : Solved(size_t(n * m), size_t(n), size_t(m)) {}
  Solved(size_t plan_size, size_t u_size, size_t v_size) : plan(plan_size), u(u_size), v(v_size) {}
  // { plan, [u_name]: u, [v_name]: v }: the start of the JS result.
  Napi::Object ToObject(Napi::Env env, const char* u_name, const char* v_name) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("plan", Adopt(env, plan));
    r.Set(u_name, Copy(env, u));
    r.Set(v_name, Copy(env, v));
    return r;
  }
};

// What one Sinkhorn solve reports, as fields of `r`.
void SetSinkhornResult(Napi::Object r, const tf::ot::SinkhornResult& x) {
  r.Set("iterations", x.iterations);
  r.Set("marginalError", x.marginal_error);
  r.Set("converged", x.converged);
  r.Set("cost", x.transport_cost);
  r.Set("absorptions", x.absorptions);
}

// otSinkhorn(a, b, cost, n, m, options, taskOptions)
//   -> Promise<{ plan, logU, logV, iterations, marginalError, converged, cost, absorptions }>
Napi::Value Sinkhorn(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "sinkhorn";
  F64View a, b, c;
  int64_t n, m;
  ReadMarginals(env, info, fn, a, b, c, n, m);
  Fields f(env, info[5], fn);
  const tf::ot::SinkhornOptions o = ReadSinkhornOptions(f);
  TaskOptions opts = TaskOptions::From(info[6]);
  tf::Backend* be = &ResolveBackend(env, opts.device, fn);
  auto out = std::make_shared<Solved<tf::ot::SinkhornResult>>(n, m);
  return Task::Start(
      env, opts, {info[0], info[1], info[2]},
      [=](tf::TaskContext& ctx) {
        out->res = tf::ot::sinkhorn_on(*be, a.data, b.data, c.data, n, m, o, out->plan.get(), out->u.data(),
                                       out->v.data(), &ctx);
      },
      [out, dev = tf::device_name(be->device())](Napi::Env env) -> Napi::Value {
        Napi::Object r = out->ToObject(env, "logU", "logV");
        SetSinkhornResult(r, out->res);
        r.Set("device", dev);
        return r;
      });
}

// otSinkhornBatch(as, bs, costs, n, m, options, taskOptions): problems of one shape, as
// arrays of Float64Arrays (a: n, b: m, cost: n x m each), read where they are
//   -> Promise<{ plan (batch x n x m), logU, logV, results: [{ iterations, marginalError,
//      converged, cost, absorptions }], device }>
Napi::Value SinkhornBatch(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const std::string fn = "sinkhornBatch";
  const int64_t n = ReadSize(env, info[3], fn + ": n"), m = ReadSize(env, info[4], fn + ": m");
  std::vector<const double*> as, bs, costs;
  std::vector<Napi::Value> keep;
  auto read_list = [&](const Napi::Value& v, const char* name, size_t length, std::vector<const double*>& out) {
    if (!v.IsArray()) ThrowArgError(env, fn + ": " + name + " must be an array of Float64Arrays");
    Napi::Array arr = v.As<Napi::Array>();
    for (uint32_t k = 0; k < arr.Length(); ++k) {
      const std::string what = fn + ": " + name + "[" + std::to_string(k) + "]";
      F64View x = ReadF64(env, arr.Get(k), what);
      if (x.length != length) ThrowArgError(env, what + " has " + std::to_string(x.length) + " elements, expected " + std::to_string(length));
      out.push_back(x.data);
    }
    keep.push_back(v);
  };
  read_list(info[0], "as", size_t(n), as);
  read_list(info[1], "bs", size_t(m), bs);
  read_list(info[2], "costs", size_t(n * m), costs);
  if (as.size() != costs.size() || bs.size() != costs.size())
    ThrowArgError(env, fn + ": as, bs and costs must have one entry per problem");
  const int64_t batch = int64_t(costs.size());
  Fields f(env, info[5], fn.c_str());
  const tf::ot::SinkhornOptions o = ReadSinkhornOptions(f);
  TaskOptions opts = TaskOptions::From(info[6]);
  tf::Backend* be = &ResolveBackend(env, opts.device, fn.c_str());
  auto out = std::make_shared<Solved<std::vector<tf::ot::SinkhornResult>>>(size_t(batch * n * m), size_t(batch * n),
                                                                          size_t(batch * m));
  return Task::Start(
      env, opts, keep,
      [=](tf::TaskContext& ctx) {
        out->res = tf::ot::sinkhorn_batched_on(*be, as, bs, costs, n, m, o, out->plan.get(), out->u.data(),
                                               out->v.data(), &ctx);
      },
      [out, dev = tf::device_name(be->device())](Napi::Env env) -> Napi::Value {
        Napi::Object r = out->ToObject(env, "logU", "logV");
        Napi::Array results = Napi::Array::New(env, out->res.size());
        for (size_t k = 0; k < out->res.size(); ++k) {
          Napi::Object o = Napi::Object::New(env);
          SetSinkhornResult(o, out->res[k]);
          results.Set(uint32_t(k), o);
        }
        r.Set("results", results);
        r.Set("device", dev);
        return r;
      });
}

// otEmd(a, b, cost, n, m, options, taskOptions)
//   -> Promise<{ plan, u, v, cost, solver, iterations, optimal, massRescaled }>
Napi::Value Emd(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const char* fn = "emd";
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
  TaskOptions opts = TaskOptions::From(info[6]);
  RequireCpu(env, opts, fn);
  auto out = std::make_shared<Solved<tf::ot::EmdResult>>(n, m);
  return Task::Start(
      env, opts, {info[0], info[1], info[2]},
      [=](tf::TaskContext& ctx) {
        out->res = tf::ot::emd(a.data, b.data, c.data, n, m, o, out->plan.get(), out->u.data(), out->v.data(), &ctx);
      },
      [out](Napi::Env env) -> Napi::Value {
        Napi::Object r = out->ToObject(env, "u", "v");
        r.Set("cost", out->res.transport_cost);
        r.Set("solver", out->res.solver == tf::ot::EmdSolver::Assignment ? "assignment" : "network_simplex");
        r.Set("iterations", double(out->res.iterations));
        r.Set("optimal", out->res.optimal);
        r.Set("massRescaled", out->res.mass_rescaled);
        return r;
      });
}

}  // namespace

void RegisterOtOps(Napi::Env env, Napi::Object exports) {
  Export<CostMatrix>(env, exports, "otCostMatrix");
  Export<Sinkhorn>(env, exports, "otSinkhorn");
  Export<SinkhornBatch>(env, exports, "otSinkhornBatch");
  Export<Emd>(env, exports, "otEmd");
}

}  // namespace tfb
