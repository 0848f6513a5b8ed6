#include "neuron_sides.h"

#include <algorithm>

#include "args.h"

namespace tfb {

Part ReadPart(Napi::Env env, const Napi::Value& value, const std::string& what) {
  if (!value.IsObject()) ThrowArgError(env, what + " must be {store, name} or {data, rows, cols}");
  Napi::Object obj = value.As<Napi::Object>();
  Part p;
  if (!obj.Get("store").IsUndefined()) {
    p.store = ActivationStoreWrap::Handle(env, obj.Get("store"), (what + ".store").c_str());
    if (!obj.Get("name").IsString()) ThrowArgError(env, what + ".name must be a string");
    p.name = obj.Get("name").As<Napi::String>().Utf8Value();
    std::lock_guard<std::mutex> lock(p.store->mutex);
    int64_t i = p.store->store->find(p.name);
    if (i < 0) ThrowArgError(env, what + ": the activation store has no entry '" + p.name + "'");
    if (!p.store->store->finalized()) ThrowArgError(env, what + ": the activation store is not finalized yet");
    if (p.store->store->released(size_t(i))) ThrowArgError(env, what + ": activation '" + p.name + "' was released: its memory has been given back");
    p.rows = p.store->store->rows(size_t(i));
    p.cols = p.store->store->cols(size_t(i));
    return p;
  }
  F32View v = ReadF32(env, obj.Get("data"), what + ".data");
  p.data = v.data;
  p.rows = ReadSize(env, obj.Get("rows"), what + ".rows");
  p.cols = ReadSize(env, obj.Get("cols"), what + ".cols");
  if (size_t(p.rows * p.cols) != v.length) ThrowArgError(env, what + ": data does not hold rows x cols values");
  return p;
}

Side ReadSide(Napi::Env env, const Napi::Value& value, const std::string& what, std::vector<Napi::Value>& keep) {
  if (!value.IsObject()) ThrowArgError(env, what + " must be an object");
  Napi::Object obj = value.As<Napi::Object>();
  Fields f(env, value, what);
  Side s;
  const std::string layout = f.string("layout", "columns");
  if (layout != "columns" && layout != "rows") f.bad("layout", layout, "'columns' or 'rows'");
  s.neurons_are_columns = layout == "columns";
  const std::string concat = f.string("concat", "features");
  if (concat != "features" && concat != "neurons") f.bad("concat", concat, "'features' or 'neurons'");
  s.concat_neurons = concat == "neurons";
  Napi::Value parts = obj.Get("parts");
  if (!parts.IsArray() || parts.As<Napi::Array>().Length() == 0) ThrowArgError(env, what + ".parts must be a non-empty array");
  Napi::Array arr = parts.As<Napi::Array>();
  for (uint32_t i = 0; i < arr.Length(); ++i) {
    Napi::Value v = arr.Get(i);
    s.parts.push_back(ReadPart(env, v, what + ".parts[" + std::to_string(i) + "]"));
    keep.push_back(v);
  }
  for (size_t i = 0; i < s.parts.size(); ++i) {
    const Part& p = s.parts[i];
    int64_t n = s.neurons_are_columns ? p.cols : p.rows, d = s.neurons_are_columns ? p.rows : p.cols;
    if (i == 0) {
      s.neurons = n;
      s.features = d;
    } else if (s.concat_neurons) {
      if (d != s.features) ThrowArgError(env, what + ": parts joined as neurons need the same number of features");
      s.neurons += n;
    } else {
      if (n != s.neurons) ThrowArgError(env, what + ": parts joined as features need the same number of neurons");
      s.features += d;
    }
  }
  return s;
}

tf::Backend& PartBackend(const Part& p) { return p.store ? p.store->store->backend() : tf::cpu_backend(); }

const float* PartData(const Part& p) {
  if (!p.store) return p.data;
  return p.store->store->data(size_t(p.store->store->find(p.name)));
}

const float* HostData(const Part& p, std::vector<float>& copy) {
  if (!p.store || !p.store->store->on_device()) return PartData(p);
  copy.resize(size_t(p.rows * p.cols));
  p.store->store->copy_to_host(size_t(p.store->store->find(p.name)), copy.data());
  return copy.data();
}

tf::ot::NeuronView View(const Side& s, tf::Backend& be, std::vector<float>& scratch) {
  using tf::ot::NeuronView;
  if (s.parts.size() == 1) {
    const Part& p = s.parts[0];
    const bool in_place = &PartBackend(p) == &be || !p.store || !p.store->store->on_device();
    const float* x = in_place ? PartData(p) : HostData(p, scratch);
    NeuronView v = s.neurons_are_columns ? NeuronView::of_columns(x, p.rows, p.cols) : NeuronView::of_rows(x, p.rows, p.cols);
    v.on_device = in_place && PartBackend(p).device() != tf::Device::Cpu;
    return v;
  }
  scratch.assign(size_t(s.neurons * s.features), 0.0f);
  int64_t neuron0 = 0, feature0 = 0;
  std::vector<float> copy;
  for (const Part& p : s.parts) {
    const float* x = HostData(p, copy);
    const int64_t n = s.neurons_are_columns ? p.cols : p.rows, d = s.neurons_are_columns ? p.rows : p.cols;
    for (int64_t k = 0; k < n; ++k)
      for (int64_t t = 0; t < d; ++t) {
        float v = s.neurons_are_columns ? x[t * p.cols + k] : x[k * p.cols + t];
        scratch[size_t((neuron0 + k) * s.features + feature0 + t)] = v;
      }
    if (s.concat_neurons) neuron0 += n; else feature0 += d;
  }
  return NeuronView::of_rows(scratch.data(), s.neurons, s.features);
}

std::vector<std::unique_lock<std::mutex>> LockStores(const std::vector<const Side*>& sides) {
  std::vector<StoreHandle*> handles;
  for (const Side* s : sides)
    for (const Part& p : s->parts)
      if (p.store && std::find(handles.begin(), handles.end(), p.store.get()) == handles.end()) handles.push_back(p.store.get());
  std::sort(handles.begin(), handles.end());  // one global order: no lock-order deadlocks
  std::vector<std::unique_lock<std::mutex>> locks;
  for (StoreHandle* h : handles) locks.emplace_back(h->mutex);
  return locks;
}

}  // namespace tfb
