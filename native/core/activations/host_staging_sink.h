// Activations computed on a device backend, handed to a store in host memory (a store
// created on the CPU for a model on the GPU): each kept
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
  void packed_tokens(const uint8_t* mask, int64_t batch, int64_t tokens) override;

 private:
  Backend& be_;
  ActivationStore& store_;
  std::vector<float> host_;
};

// The sink a model on backend `be` hands its outputs to: the store itself when it lives
// in the same memory (the CPU, or the model's device: captured and kept on the GPU), else
// `staging` (built over the same store) for a host store filled from a device. A device
// store cannot be filled by a model elsewhere: tf::Error.
ActivationSink& capture_sink(Backend& be, ActivationStore& store, HostStagingSink& staging);

}  // namespace tf
