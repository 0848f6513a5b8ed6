// The neurons of one model as the native OT and fusion exports receive them: activation
// store entries (by name, read where the store keeps them) or Float32Array matrices,
// joined into one set of neurons. Shared by ops_ot.cpp (costMatrix) and ops_fusion.cpp
// (transport maps, residual activity, repair statistics).
#pragma once

#include <napi.h>

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "../core/backend.h"
#include "../core/ot/ot.h"
#include "activation_store_wrap.h"

namespace tfb {

// One matrix of a side: a store entry (by name) or a Float32Array with its shape.
struct Part {
  std::shared_ptr<StoreHandle> store;  // null for a typed array
  std::string name;
  const float* data = nullptr;
  int64_t rows = 0, cols = 0;
};

// {store, name} or {data, rows, cols}; a TypeError naming `what` otherwise. A store entry
// must exist, be finalized and not released.
Part ReadPart(Napi::Env env, const Napi::Value& value, const std::string& what);

// The neurons of one model: parts joined along `concat`, neurons as columns (activations)
// or rows (weights).
struct Side {
  std::vector<Part> parts;
  bool neurons_are_columns = true;
  bool concat_neurons = false;  // false: the parts add features to the same neurons
  int64_t neurons = 0, features = 0;
};

// { parts: [...], layout?: 'columns' | 'rows', concat?: 'features' | 'neurons' }; the
// parts' JS values are added to `keep`.
Side ReadSide(Napi::Env env, const Napi::Value& value, const std::string& what, std::vector<Napi::Value>& keep);

// Where a part's matrix lives: the backend of its store (the model's device), or the CPU
// for a typed array.
tf::Backend& PartBackend(const Part& p);

// The part's matrix in its backend's memory. Store locks must be held by the caller.
const float* PartData(const Part& p);

// The part's matrix in host memory: itself, or for a store on a GPU a copy in `copy`.
const float* HostData(const Part& p, std::vector<float>& copy);

// A neuron view of the side for backend `be`. One part already in be's memory is read in
// place (a GPU store's entry by the GPU); otherwise the parts come to the host, joined in
// `scratch` (neurons as rows) when there is more than one. Store locks must be held by
// the caller.
tf::ot::NeuronView View(const Side& s, tf::Backend& be, std::vector<float>& scratch);

// Locks every distinct store the sides read, for the duration of a task.
std::vector<std::unique_lock<std::mutex>> LockStores(const std::vector<const Side*>& sides);

}  // namespace tfb
