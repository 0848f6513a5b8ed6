#include "host_staging_sink.h"

#include "../error.h"

namespace tf {

void HostStagingSink::capture(size_t point, const float* data, int64_t batch, int64_t row_stride) {
  const ActivationEntry& e = store_.entry(point);
  if (!e.kept || batch == 0) {
    store_.capture(point, data, batch, row_stride);
    return;
  }
  const int64_t rows = store_.capture_rows(point, batch);
  const size_t floats = size_t((rows - 1) * row_stride + e.width);
  if (host_.size() < floats) host_.resize(floats);
  be_.copy_to_host(host_.data(), data, floats * sizeof(float));
  store_.capture(point, host_.data(), batch, row_stride);
}

void HostStagingSink::token_mask(const uint8_t* mask, int64_t batch, int64_t tokens) {
  store_.token_mask(mask, batch, tokens);
}

void HostStagingSink::packed_tokens(const uint8_t* mask, int64_t batch, int64_t tokens) {
  store_.packed_tokens(mask, batch, tokens);
}

ActivationSink& capture_sink(Backend& be, ActivationStore& store, HostStagingSink& staging) {
  if (&store.backend() == &be) return store;
  if (!store.on_device()) return staging;
  throw Error(std::string("the activation store lives on ") + device_name(store.backend().device()) +
              " memory, but the model runs on " + device_name(be.device()) + ": create the store from this model");
}

}  // namespace tf
