// Keeps one capture point of a pass in a buffer of the caller's: the residual stream that
// a staged pass (VitModel / BertModel::capture_staged) carries from one stage of the
// model to the next. Every other point is ignored.
#pragma once

#include <cstdint>

#include "../backend.h"
#include "capture_point.h"

namespace tf {

class StreamSink final : public ActivationSink {
 public:
  // `rows` rows of `width` floats go to `dst` (backend memory) when `point` is captured.
  StreamSink(Backend& be, size_t point, float* dst, int64_t rows, int64_t width)
      : be_(be), point_(point), dst_(dst), rows_(rows), width_(width) {}

  void capture(size_t point, const float* data, int64_t batch, int64_t row_stride) override {
    (void)batch;
    if (point != point_) return;
    be_.gather_rows(dst_, data, rows_, width_, row_stride);
    captured_ = true;
  }
  // The rows are the pass's own (packed or padded alike): nothing to file per token.
  void token_mask(const uint8_t*, int64_t, int64_t) override {}
  void packed_tokens(const uint8_t*, int64_t, int64_t) override {}

  bool captured() const { return captured_; }

 private:
  Backend& be_;
  size_t point_;
  float* dst_;
  int64_t rows_, width_;
  bool captured_ = false;
};

}  // namespace tf
