// Exports for the fusion walk (lib/fusion): fusionTransportMap (neurons of two models ->
// transport map + diagnostics), fusionCombineMaps (the residual policies' arithmetic) and
// fusionColumnMeanAbs (per-neuron activity for the weighted policies). Neurons come from
// activation stores (read in place, on the GPU when they live there) or from weight
// matrices passed as Float32Arrays.
#include <napi.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <vector>

#include "../core/fusion/fusion.h"
#include "activation_store_wrap.h"
#include "neuron_sides.h"
#include "args.h"
#include "exports.h"
#include "ot_options.h"
#include "task.h"

namespace tfb {

namespace {

// fusionTransportMap(sideA, sideB, options, taskOptions) -> Promise<{ map: Float32Array, n, m, diagnostics }>
// options: { solver: 'emd'|'sinkhorn', cost: {...costMatrix options}, sinkhorn: {...sinkhorn options},
//            pca?: k (compare the neurons in the anchor's top k principal directions; 0 = off) }
Napi::Value TransportMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<Napi::Value> keep;
  auto a = std::make_shared<Side>(ReadSide(env, info[0], "fusionTransportMap: a", keep));
  auto b = std::make_shared<Side>(ReadSide(env, info[1], "fusionTransportMap: b", keep));
  if (a->features != b->features)
    ThrowArgError(env, "fusionTransportMap: the two sides' neurons have different numbers of features (" +
                           std::to_string(a->features) + " and " + std::to_string(b->features) + ")");
  Fields f(env, info[2], "fusionTransportMap");
  tf::fusion::MapOptions o;
  o.cost = ReadCostOptions(f.object("cost"));
  const std::string solver = f.string("solver", "emd");
  if (solver == "emd") {
    o.solver = tf::fusion::Solver::Emd;
  } else if (solver == "sinkhorn") {
    o.solver = tf::fusion::Solver::Sinkhorn;
    o.sinkhorn = ReadSinkhornOptions(f.object("sinkhorn"));
    if (!(o.sinkhorn.reg > 0)) ThrowArgError(env, "fusionTransportMap: sinkhorn.reg must be > 0");
  } else {
    f.bad("solver", solver, "'emd' or 'sinkhorn'");
  }
  f.integer("pca", o.pca_k);  // 0: off
  TaskOptions opts = TaskOptions::From(info[3]);
  tf::Backend* be = &ResolveBackend(env, opts.device, "fusionTransportMap");
  // PCA reads the neurons on the host; the cost and the solver then run on `be`.
  tf::Backend* view_be = o.pca_k > 0 ? &tf::cpu_backend() : be;
  struct Out {
    std::vector<float> map;
    tf::fusion::MapDiagnostics diag;
  };
  auto out = std::make_shared<Out>();
  return Task::Start(
      env, opts, keep,
      [a, b, o, out, be, view_be](tf::TaskContext& ctx) {
        auto locks = LockStores({a.get(), b.get()});
        std::vector<float> scratch_a, scratch_b;
        tf::ot::NeuronView va = View(*a, *view_be, scratch_a), vb = View(*b, *view_be, scratch_b);
        out->map.resize(size_t(a->neurons * b->neurons));
        out->diag = tf::fusion::transport_map(*be, va, vb, o, out->map.data(), &ctx);
      },
      [out, n = a->neurons, m = b->neurons](Napi::Env env) -> Napi::Value {
        Napi::Object r = Napi::Object::New(env);
        r.Set("map", Copy(env, out->map));
        r.Set("n", double(n));
        r.Set("m", double(m));
        Napi::Object d = Napi::Object::New(env);
        d.Set("solver", out->diag.solver);
        d.Set("device", out->diag.device);
        d.Set("iterations", double(out->diag.iterations));
        d.Set("marginalError", out->diag.marginal_error);
        d.Set("converged", out->diag.converged);
        d.Set("transportCost", out->diag.transport_cost);
        d.Set("costScale", out->diag.cost_scale);
        d.Set("permutationScore", out->diag.permutation_score);
        r.Set("diagnostics", d);
        return r;
      });
}

// fusionCombineMaps(tRes, tSub, wRes, wSub, n, m) -> Float32Array: tRes·diag(wRes) + tSub·diag(wSub).
// Maps are small (hidden x hidden), so this runs on the JS thread.
Napi::Value CombineMaps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32View tr = ReadF32(env, info[0], "fusionCombineMaps: tRes"), ts = ReadF32(env, info[1], "fusionCombineMaps: tSub");
  F32View wr = ReadF32(env, info[2], "fusionCombineMaps: wRes"), ws = ReadF32(env, info[3], "fusionCombineMaps: wSub");
  int64_t n = ReadSize(env, info[4], "fusionCombineMaps: n"), m = ReadSize(env, info[5], "fusionCombineMaps: m");
  if (tr.length != size_t(n * m) || ts.length != size_t(n * m) || wr.length != size_t(m) || ws.length != size_t(m))
    ThrowArgError(env, "fusionCombineMaps: maps must be n x m and weights of length m");
  auto out = Napi::Float32Array::New(env, size_t(n * m));
  tf::fusion::combine_maps(tr.data, ts.data, wr.data, ws.data, n, m, out.Data());
  return out;
}

// fusionColumnMeanAbs(parts, taskOptions) -> Promise<Float64Array>: mean |x_1 + ... + x_k|
// of every column of same-shaped store entries or matrices.
Napi::Value ColumnMeanAbs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray() || info[0].As<Napi::Array>().Length() == 0) ThrowArgError(env, "fusionColumnMeanAbs: parts must be a non-empty array");
  Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<Napi::Value> keep;
  auto side = std::make_shared<Side>();
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    side->parts.push_back(ReadPart(env, arr.Get(i), "fusionColumnMeanAbs: parts[" + std::to_string(i) + "]"));
    keep.push_back(arr.Get(i));
    if (side->parts[i].rows != side->parts[0].rows || side->parts[i].cols != side->parts[0].cols)
      ThrowArgError(env, "fusionColumnMeanAbs: the parts must have the same shape");
  }
  auto out = std::make_shared<std::vector<double>>(size_t(side->parts[0].cols));
  return Task::Start(
      env, TaskOptions::From(info[1]), keep,
      [side, out](tf::TaskContext&) {
        auto locks = LockStores({side.get()});
        // Read where the parts live when they all live on one device; else on the host.
        tf::Backend& be = PartBackend(side->parts[0]);
        bool together = true;
        for (const Part& p : side->parts) together = together && &PartBackend(p) == &be;
        std::vector<std::vector<float>> copies(side->parts.size());
        std::vector<const float*> data;
        for (size_t i = 0; i < side->parts.size(); ++i)
          data.push_back(together ? PartData(side->parts[i]) : HostData(side->parts[i], copies[i]));
        tf::fusion::column_mean_abs_on(together ? be : tf::cpu_backend(), data.data(), int(data.size()),
                                       side->parts[0].rows, side->parts[0].cols, out->data());
      },
      [out](Napi::Env env) -> Napi::Value { return Copy(env, *out); });
}

// fusionColumnStats(part, taskOptions) -> Promise<{ mean: Float64Array, std: Float64Array }> per column.
Napi::Value ColumnStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto side = std::make_shared<Side>();
  side->parts.push_back(ReadPart(env, info[0], "fusionColumnStats: part"));
  const Part& p = side->parts[0];
  auto mean = std::make_shared<std::vector<double>>(size_t(p.cols)), stdev = std::make_shared<std::vector<double>>(size_t(p.cols));
  return Task::Start(
      env, TaskOptions::From(info[1]), {info[0]},
      [side, mean, stdev](tf::TaskContext&) {
        auto locks = LockStores({side.get()});
        const Part& part = side->parts[0];
        tf::fusion::column_mean_std_on(PartBackend(part), PartData(part), part.rows, part.cols, mean->data(),
                                       stdev->data());
      },
      [mean, stdev](Napi::Env env) -> Napi::Value {
        Napi::Object r = Napi::Object::New(env);
        r.Set("mean", Copy(env, *mean));
        r.Set("std", Copy(env, *stdev));
        return r;
      });
}

// fusionRepairRows(weight, bias, rows, cols, mean, std, targetMean, targetStd): rescales
// weight (rows x cols) and bias in place so that the outputs take the target statistics.
Napi::Value RepairRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32View w = ReadF32(env, info[0], "fusionRepairRows: weight"), b = ReadF32(env, info[1], "fusionRepairRows: bias");
  int64_t rows = ReadSize(env, info[2], "fusionRepairRows: rows"), cols = ReadSize(env, info[3], "fusionRepairRows: cols");
  F64View m = ReadF64(env, info[4], "fusionRepairRows: mean"), s = ReadF64(env, info[5], "fusionRepairRows: std");
  F64View tm = ReadF64(env, info[6], "fusionRepairRows: targetMean"), ts = ReadF64(env, info[7], "fusionRepairRows: targetStd");
  if (w.length != size_t(rows * cols) || b.length != size_t(rows) || m.length != size_t(rows) || s.length != size_t(rows) ||
      tm.length != size_t(rows) || ts.length != size_t(rows))
    ThrowArgError(env, "fusionRepairRows: weight must be rows x cols and every vector of length rows");
  tf::fusion::repair_rows(w.data, b.data, rows, cols, m.data, s.data, tm.data, ts.data);
  return env.Undefined();
}

}  // namespace

void RegisterFusionOps(Napi::Env env, Napi::Object exports) {
  Export<TransportMap>(env, exports, "fusionTransportMap");
  Export<CombineMaps>(env, exports, "fusionCombineMaps");
  Export<ColumnMeanAbs>(env, exports, "fusionColumnMeanAbs");
  Export<ColumnStats>(env, exports, "fusionColumnStats");
  Export<RepairRows>(env, exports, "fusionRepairRows");
}

}  // namespace tfb
