// A module output that a model's forward pass can hand to an activation store, and the
// interface through which it hands it over. Models describe their points once (names,
// token counts, widths); the store decides which rows of each it keeps.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "../error.h"

namespace tf {

struct CapturePoint {
  std::string name;      // the key the store files it under (the model adapter's name)
  int64_t tokens = 1;    // rows per sample in the model's output (1 for per-sample outputs)
  int64_t width = 0;     // neurons (columns)
  // True when the rows are the full token sequence, CLS first then the patch grid in
  // row-major order: the sequence filters (window_k, only_cls) apply only to these.
  bool full_sequence = false;
  int64_t grid = 0;      // patches per side of that sequence (0 when not full_sequence)
  // With a sequence filter set, keep only the CLS row: the outputs of the last encoder
  // layer that reach the classifier only through CLS (its attention output and MLP).
  bool cls_only_when_filtered = false;
  // True when samples of a batch may end in padding (text): the forward pass tells the
  // sink which tokens are real (token_mask) and the store keeps only those rows.
  bool padded = false;
};

// Receives module outputs during a forward pass over a batch. `data` holds batch x
// tokens rows of `width` floats with `row_stride` floats between consecutive rows, in
// host memory on the CPU backend. Called on the thread that runs the forward pass.
class ActivationSink {
 public:
  virtual ~ActivationSink() = default;
  virtual void capture(size_t point, const float* data, int64_t batch, int64_t row_stride) = 0;
  // For padded points: called before the batch's captures with its sequence length
  // (rows per sample of every padded point in this batch) and mask (batch x tokens,
  // non-zero = real token; null = every token real). Outputs of non-padded points keep
  // their declared token count.
  virtual void token_mask(const uint8_t* mask, int64_t batch, int64_t tokens) {
    (void)mask, (void)batch, (void)tokens;
  }
  // Like token_mask, for a packed batch: every sample's real tokens are a prefix of its
  // `tokens`, and the padded points' outputs hold those rows only, each sample's right
  // after the previous one's (no padding rows at all). A sink that cannot file packed
  // rows refuses.
  virtual void packed_tokens(const uint8_t* mask, int64_t batch, int64_t tokens) {
    (void)mask, (void)batch, (void)tokens;
    throw Error("this activation sink cannot take a packed batch");
  }
};

}  // namespace tf
