// The parameters, gradient accumulator and AdamW moments a trainer keeps on its
// backend, whatever the model: one flat buffer each in the model's parameter layout,
// with the checkpoint reads and writes and the optimiser update that touch them.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "../backend.h"
#include "../vit/vit_params.h"
#include "optimizer.h"

namespace tf {

class TrainState {
 public:
  // Uploads `params` (count floats, laid out as `tensors`); the moments start at zero.
  TrainState(Backend& backend, const std::vector<ParamTensor>& tensors, const float* params, int64_t count);

  float* params() const { return params_->get<float>(); }
  float* grads() const { return grads_->get<float>(); }

  // One AdamW update from grads() (see adamw_step); returns the learning rate used.
  double update(Backend& be, const TrainerConfig& config, int64_t step, double grad_norm, double loss);

  void read_parameters(float* params) const { params_->download(params); }
  void read_gradients(float* grads) const { grads_->download(grads); }
  void read_moments(float* m, float* v) const;
  void load_moments(const float* m, const float* v);

 private:
  std::vector<AdamWSegment> segments_;
  std::unique_ptr<DeviceBuffer> params_, grads_, m_, v_;
};

}  // namespace tf
