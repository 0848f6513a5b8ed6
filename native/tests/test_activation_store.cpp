// The activation store: which rows each sequence filter keeps, token averaging,
// dropping samples, its kernels (row gathers, column transforms) on the backend under
// test against float64, and the memory limit.
#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "../core/activations/activation_store.h"
#include "../core/error.h"
#include "check.h"
#include "test_device.h"

namespace tf::test {
namespace {

// A model with a 3x3 patch grid: patches (9 tokens), a full sequence (10), a full
// sequence that is CLS-only under a filter, and a per-sample output.
std::vector<CapturePoint> toy_points() {
  return {{"patch", 9, 2, false, 0, false},
          {"seq", 10, 3, true, 3, false},
          {"last_mlp", 10, 2, true, 3, true},
          {"head", 1, 4, false, 0, false}};
}

// Value of (sample, token, column) in the toy batch: encodes all three.
float toy_value(int64_t s, int64_t t, int64_t c) { return float(s * 1000 + t * 10 + c); }

void capture_toy(ActivationStore& store, int64_t first_sample, int64_t batch) {
  auto points = toy_points();
  for (size_t p = 0; p < points.size(); ++p) {
    const int64_t stride = points[p].width + 1;  // a padded row stride, as in the QKV buffer
    std::vector<float> data(size_t(batch * points[p].tokens * stride), -1.0f);
    for (int64_t b = 0; b < batch; ++b)
      for (int64_t t = 0; t < points[p].tokens; ++t)
        for (int64_t c = 0; c < points[p].width; ++c)
          data[size_t((b * points[p].tokens + t) * stride + c)] = toy_value(first_sample + b, t, c);
    store.capture(p, data.data(), batch, stride);
  }
}

std::vector<int64_t> tokens_of(const ActivationStore& s, size_t entry) {
  std::vector<int64_t> out;
  const float* d = s.data(entry);
  for (int64_t r = 0; r < s.rows(entry) / s.num_samples(); ++r) out.push_back(int64_t(d[r * s.cols(entry)]) % 1000 / 10);
  return out;
}

TEST("activation store: no filter keeps every token, rows sample-major") {
  ActivationStoreOptions o;
  o.capacity = 3;
  ActivationStore s(toy_points(), o);
  capture_toy(s, 0, 2);
  std::vector<float> losses = {0.5f, 1.5f};
  s.commit(2, losses.data());
  capture_toy(s, 2, 1);
  s.commit(1, nullptr);
  CHECK(s.num_samples() == 3 && s.remaining() == 0);
  CHECK(s.rows(1) == 30 && s.cols(1) == 3 && s.rows(3) == 3 && s.cols(3) == 4);
  for (int64_t r = 0; r < s.rows(1); ++r)
    for (int64_t c = 0; c < 3; ++c) CHECK(s.data(1)[r * 3 + c] == toy_value(r / 10, r % 10, c));
  CHECK(s.losses()[1] == 1.5f && std::isnan(s.losses()[2]));
  CHECK_THROWS(capture_toy(s, 3, 1));  // over capacity
}

TEST("activation store: window_k keeps CLS + the central k x k patches; CLS-only points and patches") {
  ActivationStoreOptions o;
  o.capacity = 2;
  o.filter = SequenceFilter::Window;
  o.window = 1;
  ActivationStore s(toy_points(), o);
  capture_toy(s, 0, 2);
  s.commit(2, nullptr);
  CHECK(tokens_of(s, 1) == (std::vector<int64_t>{0, 5}));  // centre of 3x3 is patch 4 -> token 5
  CHECK(tokens_of(s, 2) == (std::vector<int64_t>{0}));
  CHECK(s.rows(0) == 18);  // patch outputs are not a full sequence: unfiltered
  o.window = 2;            // (3 - 2) / 2 = 0: rows 0-1, columns 0-1
  ActivationStore s2(toy_points(), o);
  capture_toy(s2, 0, 1);
  s2.commit(1, nullptr);
  CHECK(tokens_of(s2, 1) == (std::vector<int64_t>{0, 1, 2, 4, 5}));
  o.window = 4;
  CHECK_THROWS(ActivationStore(toy_points(), o));
  o.filter = SequenceFilter::OnlyCls;
  ActivationStore s3(toy_points(), o);
  capture_toy(s3, 0, 2);
  s3.commit(2, nullptr);
  CHECK(s3.rows(1) == 2 && s3.data(1)[3] == toy_value(1, 0, 0));
}

TEST("activation store: position p (seq_pos) keeps token p of every full sequence, CLS-only points included") {
  ActivationStoreOptions o;
  o.capacity = 2;
  SequenceFilter f;
  parse_sequence_filter("position_4", &f, &o.window);
  o.filter = f;
  CHECK(f == SequenceFilter::Position && o.window == 4);
  ActivationStore s(toy_points(), o);
  capture_toy(s, 0, 2);
  s.commit(2, nullptr);
  CHECK(tokens_of(s, 1) == (std::vector<int64_t>{4}));
  CHECK(tokens_of(s, 2) == (std::vector<int64_t>{4}));
  CHECK(s.rows(0) == 18);  // patch outputs are not a full sequence
  CHECK(s.rows(1) == 2 && s.data(1)[3] == toy_value(1, 4, 0));
  o.window = 10;  // past the 10 tokens
  try {
    ActivationStore past(toy_points(), o);
    CHECK(false);
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("sequence position 10 is past the 10 tokens") != std::string::npos);
  }
  parse_sequence_filter("position_0", &f, &o.window);
  CHECK(f == SequenceFilter::Position && o.window == 0);
  for (const char* bad : {"position_", "position_-1", "position_x", "window_0"}) CHECK_THROWS(parse_sequence_filter(bad, &f, &o.window));
}

TEST("activation store: the reference's 8x8 windows") {
  std::vector<CapturePoint> pts = {{"seq", 65, 1, true, 8, false}};
  auto tokens = [&](int64_t k) {
    ActivationStoreOptions o;
    o.capacity = 1;
    o.filter = SequenceFilter::Window;
    o.window = k;
    return ActivationStore::plan(pts, o).entries[0].kept_tokens;
  };
  // The first kept patch row of window_2/4/6 on an 8x8 grid: tokens 28, 19, 10.
  CHECK(tokens(2) == (std::vector<int64_t>{0, 28, 29, 36, 37}));
  CHECK(tokens(4).size() == 17 && tokens(4)[1] == 19 && tokens(4)[16] == 46);
  CHECK(tokens(6).size() == 37 && tokens(6)[1] == 10 && tokens(6)[36] == 55);
  CHECK(tokens(8).size() == 65);
}

TEST("activation store: avg_seq_items averages every token, filter ignored") {
  ActivationStoreOptions o;
  o.capacity = 2;
  o.average_tokens = true;
  o.filter = SequenceFilter::OnlyCls;
  ActivationStore s(toy_points(), o);
  capture_toy(s, 0, 2);
  s.commit(2, nullptr);
  CHECK(s.rows(1) == 2 && s.rows(0) == 2 && s.rows(3) == 2);
  CHECK_NEAR(s.data(1)[3 + 2], 1000 + 45 + 2, 1e-3);  // sample 1, mean token 4.5
  CHECK_NEAR(s.data(0)[0], 40, 1e-3);                  // patches 0..8, mean 4
}

TEST("activation store: keep drops samples in order, losses follow") {
  ActivationStoreOptions o;
  o.capacity = 4;
  ActivationStore s(toy_points(), o);
  capture_toy(s, 0, 4);
  std::vector<float> losses = {0, 1, 2, 3};
  s.commit(4, losses.data());
  std::vector<uint8_t> mask = {0, 1, 0, 1};
  s.keep(mask.data(), 4);
  CHECK(s.num_samples() == 2 && s.remaining() == 2);
  CHECK(s.data(1)[0] == toy_value(1, 0, 0) && s.data(1)[10 * 3] == toy_value(3, 0, 0));
  CHECK(s.losses()[0] == 1 && s.losses()[1] == 3);
  capture_toy(s, 10, 2);
  s.commit(2, nullptr);
  CHECK(s.data(3)[2 * 4] == toy_value(10, 0, 0) && s.data(3)[3 * 4] == toy_value(11, 0, 0));
}

TEST("activation transforms against float64: std (unbiased + 1e-9), center, norm") {
  // Through the backend under test: the store runs its transforms where it lives.
  Backend& be = device_backend();
  const int64_t rows = 23, cols = 130;  // more than one column block
  auto x = random_vector(size_t(rows * cols), 71, -3.0f, 5.0f);
  for (int64_t r = 0; r < rows; ++r) x[size_t(r * cols + 7)] = 1000.0f + 0.01f * float(r % 5);  // a large offset
  for (auto t : {ActivationTransform::Std, ActivationTransform::Center, ActivationTransform::Norm}) {
    auto dy = to_device(be, x);
    be.activation_transform(dy.get<float>(), rows, cols, t);
    const auto y = to_host(dy);
    for (int64_t c = 0; c < cols; ++c) {
      double m = 0, ss = 0, nn = 0;
      for (int64_t r = 0; r < rows; ++r) m += x[r * cols + c];
      m /= rows;
      for (int64_t r = 0; r < rows; ++r) {
        ss += (x[r * cols + c] - m) * (x[r * cols + c] - m);
        nn += double(x[r * cols + c]) * x[r * cols + c];
      }
      const double sd = std::sqrt(ss / (rows - 1));
      for (int64_t r = 0; r < rows; ++r) {
        const double v = x[r * cols + c];
        const double want = t == ActivationTransform::Std      ? (v - m) / (sd + 1e-9)
                            : t == ActivationTransform::Center ? v - m
                                                               : v / std::max(std::sqrt(nn), 1e-12);
        CHECK_NEAR(y[r * cols + c], want, 1e-5 * (1.0 + std::fabs(want)));
      }
    }
  }
  auto one = to_device(be, std::vector<float>(5, 1.0f));
  CHECK_THROWS(be.activation_transform(one.get<float>(), 1, 5, ActivationTransform::Std));
  auto st = matrix_stats(x.data(), int64_t(x.size()));
  CHECK(st.min >= -3.0 && st.max <= 1000.05 && std::fabs(st.mean - 1.0 - 1000.0 / cols) < 0.1);
}

TEST("gather_mean_rows: chosen rows copied exactly, means in float64, empty segments zero") {
  Backend& be = device_backend();
  const int64_t src_rows = 37, cols = 70, stride = 75;  // a row stride past the columns, as in captures
  const auto src = random_vector(size_t(src_rows * stride), 31, -3.0f, 3.0f);
  // Segments of every kind: single rows (repeated and out of order), runs to average, one empty.
  std::mt19937 rng(32);
  std::vector<int32_t> offsets = {0}, indices;
  for (int s = 0; s < 23; ++s) {
    const int len = s == 5 ? 0 : s % 3 == 0 ? 1 + int(rng() % 9) : 1;
    for (int k = 0; k < len; ++k) indices.push_back(int32_t(rng() % src_rows));
    offsets.push_back(int32_t(indices.size()));
  }
  const int64_t segments = int64_t(offsets.size()) - 1;
  auto dsrc = to_device(be, src);
  DeviceBuffer doff(be, offsets.size() * sizeof(int32_t)), dind(be, indices.size() * sizeof(int32_t));
  doff.upload(offsets.data());
  dind.upload(indices.data());
  DeviceBuffer ddst(be, size_t(segments * cols) * sizeof(float));
  be.gather_mean_rows(ddst.get<float>(), dsrc.get<float>(), stride, cols, doff.get<int32_t>(), dind.get<int32_t>(),
                      segments);
  const auto dst = to_host(ddst);
  for (int64_t s = 0; s < segments; ++s)
    for (int64_t c = 0; c < cols; ++c) {
      double sum = 0;
      for (int32_t k = offsets[s]; k < offsets[s + 1]; ++k) sum += double(src[size_t(indices[k] * stride + c)]);
      const int32_t len = offsets[s + 1] - offsets[s];
      const float want = len == 0 ? 0.0f : float(sum / double(len));
      // The same float64 sums in the same order: equal, not merely close.
      CHECK(dst[size_t(s * cols + c)] == want);
    }
}

TEST("activation store: refuses a store over the memory limit, naming the bytes") {
  ActivationStoreOptions o;
  o.capacity = 1000;
  o.max_bytes = 1000;
  const uint64_t need = ActivationStore::plan(toy_points(), o).bytes;
  CHECK(need == uint64_t(1000) * (9 * 2 + 10 * 3 + 10 * 2 + 4 + 1) * 4);
  try {
    ActivationStore s(toy_points(), o);
    CHECK(false);
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find(std::to_string(need) + " bytes") != std::string::npos);
    CHECK(std::string(e.what()).find("limit of 1000 bytes") != std::string::npos);
  }
  CHECK(default_activation_limit() > (uint64_t(1) << 26));
}

TEST("sequence filter names") {
  SequenceFilter f;
  int64_t k;
  parse_sequence_filter("window_6", &f, &k);
  CHECK(f == SequenceFilter::Window && k == 6);
  parse_sequence_filter("only_cls", &f, &k);
  CHECK(f == SequenceFilter::OnlyCls);
  parse_sequence_filter("none", &f, &k);
  CHECK(f == SequenceFilter::None);
  CHECK_THROWS(parse_sequence_filter("window_0", &f, &k));
  CHECK_THROWS(parse_sequence_filter("window_", &f, &k));
  CHECK_THROWS(parse_sequence_filter("windows_2", &f, &k));
}

}  // namespace
}  // namespace tf::test
