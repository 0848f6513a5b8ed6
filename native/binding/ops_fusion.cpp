// Exports for the fusion walk (lib/fusion): fusionTransportMap (neurons of two models ->
// transport map + diagnostics) and fusionTransportMaps (many at once), fusionCombineMaps (the residual policies' arithmetic) and
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

// The options of fusionTransportMap(s): { solver: 'emd'|'sinkhorn', cost: {...costMatrix
// options}, sinkhorn: {...sinkhorn options}, pca?: k (compare the neurons in the anchor's
// top k principal directions; 0 = off) }.
tf::fusion::MapOptions ReadMapOptions(Napi::Env env, const Napi::Value& value, const char* fn) {
  Fields f(env, value, fn);
  tf::fusion::MapOptions o;
  o.cost = ReadCostOptions(f.object("cost"));
  const std::string solver = f.string("solver", "emd");
  if (solver == "emd") {
    o.solver = tf::fusion::Solver::Emd;
  } else if (solver == "sinkhorn") {
    o.solver = tf::fusion::Solver::Sinkhorn;
    o.sinkhorn = ReadSinkhornOptions(f.object("sinkhorn"));
    if (!(o.sinkhorn.reg > 0)) ThrowArgError(env, std::string(fn) + ": sinkhorn.reg must be > 0");
  } else {
    f.bad("solver", solver, "'emd' or 'sinkhorn'");
  }
  f.integer("pca", o.pca_k);  // 0: off
  return o;
}

// Two sides read for one map; their neurons must have the same features.
struct SidePair {
  std::shared_ptr<Side> a, b;
};
SidePair ReadSidePair(Napi::Env env, const Napi::Value& a, const Napi::Value& b, const std::string& what,
                      std::vector<Napi::Value>& keep) {
  SidePair p{std::make_shared<Side>(ReadSide(env, a, what + "a", keep)),
             std::make_shared<Side>(ReadSide(env, b, what + "b", keep))};
  if (p.a->features != p.b->features)
    ThrowArgError(env, what + "the two sides' neurons have different numbers of features (" +
                           std::to_string(p.a->features) + " and " + std::to_string(p.b->features) + ")");
  return p;
}

// One map's result: { map: Float32Array, n, m, diagnostics }.
struct MapOut {
  std::vector<float> map;
  int64_t n = 0, m = 0;
  tf::fusion::MapDiagnostics diag;
};
Napi::Object MapResult(Napi::Env env, const MapOut& out) {
  Napi::Object r = Napi::Object::New(env);
  r.Set("map", Copy(env, out.map));
  r.Set("n", double(out.n));
  r.Set("m", double(out.m));
  Napi::Object d = Napi::Object::New(env);
  d.Set("solver", out.diag.solver);
  d.Set("device", out.diag.device);
  d.Set("iterations", double(out.diag.iterations));
  d.Set("marginalError", out.diag.marginal_error);
  d.Set("converged", out.diag.converged);
  d.Set("transportCost", out.diag.transport_cost);
  d.Set("costScale", out.diag.cost_scale);
  d.Set("permutationScore", out.diag.permutation_score);
  r.Set("diagnostics", d);
  return r;
}

// The maps of `pairs` on `be`, as transport_maps computes them, into `outs`.
void ComputeMaps(tf::Backend& be, const std::vector<SidePair>& pairs, const tf::fusion::MapOptions& o,
                 std::vector<MapOut>& outs, tf::TaskContext& ctx) {
  std::vector<const Side*> sides;
  for (const SidePair& p : pairs) sides.insert(sides.end(), {p.a.get(), p.b.get()});
  auto locks = LockStores(sides);
  // PCA reads the neurons on the host; the cost and the solver then run on `be`.
  tf::Backend& view_be = o.pca_k > 0 ? tf::cpu_backend() : be;
  std::vector<std::vector<float>> scratch(2 * pairs.size());
  std::vector<tf::ot::NeuronView> as, bs;
  std::vector<float*> maps;
  for (size_t k = 0; k < pairs.size(); ++k) {
    as.push_back(View(*pairs[k].a, view_be, scratch[2 * k]));
    bs.push_back(View(*pairs[k].b, view_be, scratch[2 * k + 1]));
    outs[k].n = pairs[k].a->neurons;
    outs[k].m = pairs[k].b->neurons;
    outs[k].map.resize(size_t(outs[k].n * outs[k].m));
    maps.push_back(outs[k].map.data());
  }
  std::vector<tf::fusion::MapDiagnostics> diags = tf::fusion::transport_maps(be, as, bs, o, maps, &ctx);
  for (size_t k = 0; k < pairs.size(); ++k) outs[k].diag = diags[k];
}

// fusionTransportMap(sideA, sideB, options, taskOptions) -> Promise<{ map: Float32Array, n, m, diagnostics }>
Napi::Value TransportMap(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::vector<Napi::Value> keep;
  auto pairs = std::make_shared<std::vector<SidePair>>();
  pairs->push_back(ReadSidePair(env, info[0], info[1], "fusionTransportMap: ", keep));
  const tf::fusion::MapOptions o = ReadMapOptions(env, info[2], "fusionTransportMap");
  TaskOptions opts = TaskOptions::From(info[3]);
  tf::Backend* be = &ResolveBackend(env, opts.device, "fusionTransportMap");
  auto outs = std::make_shared<std::vector<MapOut>>(1);
  return Task::Start(
      env, opts, keep, [pairs, o, outs, be](tf::TaskContext& ctx) { ComputeMaps(*be, *pairs, o, *outs, ctx); },
      [outs](Napi::Env env) -> Napi::Value { return MapResult(env, (*outs)[0]); });
}

// fusionTransportMaps([{ a, b }], options, taskOptions) -> Promise<[{ map, n, m, diagnostics }]>:
// independent maps with one set of options (fusion::transport_maps: on the GPU, Sinkhorn
// problems of one shape are solved together).
Napi::Value TransportMaps(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsArray()) ThrowArgError(env, "fusionTransportMaps: problems must be an array of { a, b }");
  Napi::Array arr = info[0].As<Napi::Array>();
  std::vector<Napi::Value> keep;
  auto pairs = std::make_shared<std::vector<SidePair>>();
  for (uint32_t k = 0; k < arr.Length(); ++k) {
    const std::string what = "fusionTransportMaps: problems[" + std::to_string(k) + "]: ";
    if (!arr.Get(k).IsObject()) ThrowArgError(env, what + "must be an object { a, b }");
    Napi::Object p = arr.Get(k).As<Napi::Object>();
    pairs->push_back(ReadSidePair(env, p.Get("a"), p.Get("b"), what, keep));
  }
  const tf::fusion::MapOptions o = ReadMapOptions(env, info[1], "fusionTransportMaps");
  TaskOptions opts = TaskOptions::From(info[2]);
  tf::Backend* be = &ResolveBackend(env, opts.device, "fusionTransportMaps");
  auto outs = std::make_shared<std::vector<MapOut>>(pairs->size());
  return Task::Start(
      env, opts, keep, [pairs, o, outs, be](tf::TaskContext& ctx) { ComputeMaps(*be, *pairs, o, *outs, ctx); },
      [outs](Napi::Env env) -> Napi::Value {
        Napi::Array r = Napi::Array::New(env, outs->size());
        for (size_t k = 0; k < outs->size(); ++k) r.Set(uint32_t(k), MapResult(env, (*outs)[k]));
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

// fusionRepairRows(weight, bias, rows, cols, mean, std, targetMean, targetStd) ->
// { scale, shift }: rescales weight (rows x cols) and bias in place so that the outputs
// take the target statistics; each output y_j became scale_j y_j + shift_j.
Napi::Value RepairRows(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  F32View w = ReadF32(env, info[0], "fusionRepairRows: weight"), b = ReadF32(env, info[1], "fusionRepairRows: bias");
  int64_t rows = ReadSize(env, info[2], "fusionRepairRows: rows"), cols = ReadSize(env, info[3], "fusionRepairRows: cols");
  F64View m = ReadF64(env, info[4], "fusionRepairRows: mean"), s = ReadF64(env, info[5], "fusionRepairRows: std");
  F64View tm = ReadF64(env, info[6], "fusionRepairRows: targetMean"), ts = ReadF64(env, info[7], "fusionRepairRows: targetStd");
  if (w.length != size_t(rows * cols) || b.length != size_t(rows) || m.length != size_t(rows) || s.length != size_t(rows) ||
      tm.length != size_t(rows) || ts.length != size_t(rows))
    ThrowArgError(env, "fusionRepairRows: weight must be rows x cols and every vector of length rows");
  std::vector<double> scale(static_cast<size_t>(rows)), shift(static_cast<size_t>(rows));
  tf::fusion::repair_rows(w.data, b.data, rows, cols, m.data, s.data, tm.data, ts.data, scale.data(), shift.data());
  Napi::Object r = Napi::Object::New(env);
  r.Set("scale", Copy(env, scale));
  r.Set("shift", Copy(env, shift));
  return r;
}

}  // namespace

void RegisterFusionOps(Napi::Env env, Napi::Object exports) {
  Export<TransportMap>(env, exports, "fusionTransportMap");
  Export<TransportMaps>(env, exports, "fusionTransportMaps");
  Export<CombineMaps>(env, exports, "fusionCombineMaps");
  Export<ColumnMeanAbs>(env, exports, "fusionColumnMeanAbs");
  Export<ColumnStats>(env, exports, "fusionColumnStats");
  Export<RepairRows>(env, exports, "fusionRepairRows");
}

}  // namespace tfb
