#include "train_state.h"

namespace tf {

TrainState::TrainState(Backend& backend, const std::vector<ParamTensor>& tensors, const float* params, int64_t count)
    : segments_(adamw_segments(tensors)) {
  const size_t bytes = size_t(count) * sizeof(float);
  params_ = std::make_unique<DeviceBuffer>(backend, bytes);
  params_->upload(params);
  grads_ = std::make_unique<DeviceBuffer>(backend, bytes);
  m_ = std::make_unique<DeviceBuffer>(backend, bytes);
  v_ = std::make_unique<DeviceBuffer>(backend, bytes);
  backend.zero(m_->get<float>(), count);
  backend.zero(v_->get<float>(), count);
}

double TrainState::update(Backend& be, const TrainerConfig& config, int64_t step, double grad_norm, double loss) {
  return adamw_step(be, config, step, grad_norm, loss, segments_, params_->get<float>(), m_->get<float>(),
                    v_->get<float>(), grads_->get<float>());
}

void TrainState::read_moments(float* m, float* v) const {
  m_->download(m);
  v_->download(v);
}

void TrainState::load_moments(const float* m, const float* v) {
  m_->upload(m);
  v_->upload(v);
}

}  // namespace tf
