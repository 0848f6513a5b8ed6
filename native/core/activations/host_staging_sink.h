// Activations computed on a device backend, handed to a store in host memory: each kept
// point's rows are copied to the host (one device-to-host copy per point and micro-batch)
// and passed on. Points the store does not keep are passed on without a copy (the store
// only notes that they were captured). Token masks (text batches) are host memory
// already and go straight through.
#pragma once

#include <vector>

#include "../backend.h"
#include "activation_store.h"

namespace tf {

class HostStagingSink final : public ActivationSink {
 public:
  HostStagingSink(Backend& be, ActivationStore& store) : be_(be), store_(store) {}
  void capture(size_t point, const float* data, int64_t batch, int64_t row_stride) override;
  void token_mask(const uint8_t* mask, int64_t batch, int64_t tokens) override;

 private:
  Backend& be_;
  ActivationStore& store_;
  std::vector<float> host_;
};

// The sink a model's capture hands its outputs to: the store itself on the CPU backend,
// else `staging` (built over the same store).
inline ActivationSink& capture_sink(Backend& be, ActivationStore& store, HostStagingSink& staging) {
  return be.device() == Device::Cpu ? static_cast<ActivationSink&>(store) : staging;
}

}  // namespace tf
