// The activation store with padded (text) points: only real tokens are kept, averages
// run over real tokens, samples of different lengths survive keep(), only_cls keeps
// token 0, window filters are refused without a grid, the planned size follows
// max_tokens and max_total_tokens, and packed batches (real rows only) file the same rows.
#include <algorithm>
#include <cmath>
#include <string>

#include "../core/activations/activation_store.h"
#include "../core/error.h"
#include "check.h"

namespace tf::test {
namespace {

// A text model: two padded token outputs (one CLS-only under a filter) and a per-sample one.
std::vector<CapturePoint> text_points(int64_t max_tokens) {
  CapturePoint a{"hidden", max_tokens, 3, true, 0, false};
  a.padded = true;
  CapturePoint b{"last_mlp", max_tokens, 2, true, 0, true};
  b.padded = true;
  return {a, b, {"logits", 1, 2, false, 0, false}};
}

float value(int64_t s, int64_t t, int64_t c) { return float(s * 1000 + t * 10 + c); }

// The mask of samples with `lengths` real tokens first, padded to `tokens`.
std::vector<uint8_t> prefix_mask(const std::vector<int64_t>& lengths, int64_t tokens) {
  std::vector<uint8_t> mask(lengths.size() * size_t(tokens), 0);
  for (size_t b = 0; b < lengths.size(); ++b) std::fill_n(mask.begin() + int64_t(b) * tokens, lengths[b], uint8_t(1));
  return mask;
}

// A batch of `lengths.size()` samples padded to `tokens`, as a pass hands it over:
// padded (padding rows filled with -1), or packed (padded points bring each sample's
// real rows only, one sample after the other).
void capture_text(ActivationStore& store, int64_t first, const std::vector<int64_t>& lengths, int64_t tokens,
                  bool packed = false) {
  const int64_t batch = int64_t(lengths.size());
  const std::vector<uint8_t> mask = prefix_mask(lengths, tokens);
  if (packed) store.packed_tokens(mask.data(), batch, tokens);
  else store.token_mask(mask.data(), batch, tokens);
  auto points = text_points(tokens);
  for (size_t p = 0; p < points.size(); ++p) {
    const int64_t rows = points[p].padded ? tokens : 1, w = points[p].width;
    std::vector<float> data;
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t t = 0; t < rows; ++t) {
        const bool real = !points[p].padded || t < lengths[size_t(b)];
        if (packed && !real) continue;
        for (int64_t c = 0; c < w; ++c) data.push_back(real ? value(first + b, t, c) : -1.0f);
      }
    if (packed) CHECK(store.capture_rows(p, batch) * w == int64_t(data.size()));
    store.capture(p, data.data(), batch, w);
  }
  store.commit(batch, nullptr);
}

TEST("padded store: rows are the real tokens of each sample, in order, across batches and lengths") {
  ActivationStoreOptions o;
  o.capacity = 4;
  o.max_tokens = 6;
  ActivationStore s(text_points(512), o);
  CHECK(s.entry(0).source_tokens == 6 && s.entry(0).variable_rows && !s.entry(2).variable_rows);
  capture_text(s, 0, {3, 6}, 6);
  capture_text(s, 2, {1, 2}, 4);  // a shorter batch
  CHECK(s.rows(0) == 12 && s.rows(1) == 12 && s.rows(2) == 4);
  CHECK((s.sample_tokens() == std::vector<int64_t>{3, 6, 1, 2}));
  int64_t r = 0;
  const std::vector<int64_t> lengths = {3, 6, 1, 2};
  for (int64_t smp = 0; smp < 4; ++smp)
    for (int64_t t = 0; t < lengths[size_t(smp)]; ++t, ++r)
      for (int64_t c = 0; c < 3; ++c) CHECK(s.data(0)[r * 3 + c] == value(smp, t, c));
  // Drop samples 1 and 2: the others move down, whole.
  std::vector<uint8_t> keep = {1, 0, 0, 1};
  s.keep(keep.data(), 4);
  CHECK(s.num_samples() == 2 && s.rows(0) == 5 && (s.sample_tokens() == std::vector<int64_t>{3, 2}));
  const float want[5] = {value(0, 0, 1), value(0, 1, 1), value(0, 2, 1), value(3, 0, 1), value(3, 1, 1)};
  for (int64_t k = 0; k < 5; ++k) CHECK(s.data(0)[k * 3 + 1] == want[k]);
  CHECK(s.data(2)[2] == value(3, 0, 0));
}

TEST("padded store: averages over real tokens, only_cls keeps token 0, windows need a grid") {
  ActivationStoreOptions avg;
  avg.capacity = 2;
  avg.average_tokens = true;
  avg.max_tokens = 5;
  ActivationStore s(text_points(5), avg);
  capture_text(s, 0, {2, 5}, 5);
  CHECK(s.rows(0) == 2);
  CHECK_NEAR(s.data(0)[0], (value(0, 0, 0) + value(0, 1, 0)) / 2, 1e-3);
  CHECK_NEAR(s.data(0)[3 + 2], (value(1, 0, 2) + value(1, 4, 2)) / 2, 1e-3);

  ActivationStoreOptions cls;
  cls.capacity = 2;
  cls.filter = SequenceFilter::OnlyCls;
  ActivationStore c(text_points(5), cls);
  capture_text(c, 0, {2, 5}, 5);
  CHECK(c.rows(0) == 2 && c.rows(1) == 2 && c.data(0)[3] == value(1, 0, 0));

  ActivationStoreOptions win;
  win.capacity = 1;
  win.filter = SequenceFilter::Window;
  win.window = 2;
  bool refused = false;
  try {
    ActivationStore::plan(text_points(5), win);
  } catch (const Error& e) {
    refused = std::string(e.what()).find("needs a patch grid") != std::string::npos;
  }
  CHECK(refused);
}

TEST("padded store: planned for max_tokens; longer batches refused; no mask means all real") {
  ActivationStoreOptions o;
  o.capacity = 2;
  const auto full = ActivationStore::plan(text_points(512), o);
  o.max_tokens = 8;
  const auto capped = ActivationStore::plan(text_points(512), o);
  CHECK(full.bytes > capped.bytes);
  CHECK(capped.floats == uint64_t(2 * (8 * 3 + 8 * 2 + 2)));
  ActivationStore s(text_points(512), o);
  std::vector<uint8_t> mask(9 * 2, 1);
  CHECK_THROWS(s.token_mask(mask.data(), 2, 9));
  s.token_mask(nullptr, 1, 4);
  std::vector<float> h(4 * 3, 1.0f), m(4 * 2, 2.0f), l(2, 3.0f);
  s.capture(0, h.data(), 1, 3);
  s.capture(1, m.data(), 1, 2);
  s.capture(2, l.data(), 1, 2);
  s.commit(1, nullptr);
  CHECK(s.rows(0) == 4 && (s.sample_tokens() == std::vector<int64_t>{4}));
}

TEST("padded store: a packed batch files what its padded twin files, for every way of keeping tokens") {
  for (int kind = 0; kind < 3; ++kind) {
    ActivationStoreOptions o;
    o.capacity = 4;
    o.max_tokens = 6;
    o.average_tokens = kind == 1;
    if (kind == 2) o.filter = SequenceFilter::OnlyCls;
    ActivationStore padded(text_points(512), o), packed(text_points(512), o);
    capture_text(padded, 0, {3, 6}, 6);
    capture_text(padded, 2, {1, 2}, 4);
    capture_text(packed, 0, {3, 6}, 6, true);
    capture_text(packed, 2, {1, 2}, 4, true);
    CHECK(packed.sample_tokens() == padded.sample_tokens());
    for (size_t i = 0; i < 3; ++i) {
      CHECK(packed.rows(i) == padded.rows(i));
      for (int64_t k = 0; k < packed.rows(i) * packed.entry(i).width; ++k) CHECK(packed.data(i)[k] == padded.data(i)[k]);
    }
  }
  // Packing keeps a prefix of each sample: a real token after padding is refused.
  ActivationStoreOptions o;
  o.capacity = 1;
  ActivationStore s(text_points(4), o);
  std::vector<uint8_t> holey = {1, 0, 1, 0};
  CHECK_THROWS(s.packed_tokens(holey.data(), 1, 4));
}

TEST("padded store: max_total_tokens sizes token-by-token entries for the real tokens, and holds no more") {
  ActivationStoreOptions o;
  o.capacity = 4;
  o.max_tokens = 6;
  const auto full = ActivationStore::plan(text_points(512), o);
  o.max_total_tokens = 9;
  const auto tight = ActivationStore::plan(text_points(512), o);
  // Without a filter both padded points keep every token: 9 rows each instead of 24; the
  // per-sample "logits" keep their 4.
  CHECK(tight.entries[0].row_capacity == 9 && full.entries[0].row_capacity == 24);
  CHECK(tight.floats == uint64_t(9 * 3 + 9 * 2 + 4 * 2));
  ActivationStore s(text_points(512), o);
  capture_text(s, 0, {3, 6}, 6, true);
  CHECK(s.rows(0) == 9);
  CHECK_THROWS(capture_text(s, 2, {1}, 4, true));
}

}  // namespace
}  // namespace tf::test
