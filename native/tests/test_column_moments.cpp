// Statistics repair's streamed measurements (fusion/column_moments.h): per-neuron means
// and standard deviations merged chunk by chunk against a float64 two-pass computation
// over all rows at once, and a staged capture drained chunk by chunk against a capture of
// every sample into one store, for ViTs and BERTs (packed and padded) on the CPU and the
// stand-in device.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "../core/activations/activation_store.h"
#include "../core/bert/bert_capture.h"
#include "../core/bert/bert_model.h"
#include "../core/fusion/column_moments.h"
#include "../core/fusion/fusion.h"
#include "../core/vit/vit_capture.h"
#include "../core/vit/vit_model.h"
#include "check.h"
#include "model_fixtures.h"
#include "stand_in_device.h"
#include "test_device.h"

namespace tf::test {
namespace {

double relative_gap(const std::vector<double>& a, const std::vector<double>& b) {
  double worst = a.size() == b.size() ? 0.0 : INFINITY;
  for (size_t j = 0; j < a.size() && j < b.size(); ++j)
    worst = std::max(worst, std::fabs(a[j] - b[j]) / (1e-300 + std::max(std::fabs(a[j]), std::fabs(b[j]))));
  return worst;
}

TEST("column moments merged chunk by chunk equal a float64 two-pass over all rows, large offsets too") {
  const int64_t cols = 5;
  for (double offset : {0.0, 1e4}) {
    const std::vector<int64_t> chunks = {1, 7, 64, 3, 200, 1};
    int64_t rows = 0;
    for (int64_t c : chunks) rows += c;
    const std::vector<float> x = random_vector(size_t(rows * cols), 91, -1.0f, 1.0f);
    std::vector<float> shifted(x.size());
    for (size_t i = 0; i < x.size(); ++i) shifted[i] = float(offset + (i % cols) * 3.0 + x[i]);
    fusion::ColumnMoments m(cols);
    int64_t at = 0;
    for (int64_t c : chunks) {
      std::vector<double> mean(static_cast<size_t>(cols)), sd(static_cast<size_t>(cols));
      fusion::column_mean_std(shifted.data() + at * cols, c, cols, mean.data(), sd.data());
      m.add(mean.data(), sd.data(), c);
      at += c;
    }
    std::vector<double> mean(static_cast<size_t>(cols), 0.0), sd(static_cast<size_t>(cols), 0.0);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < cols; ++j) mean[size_t(j)] += double(shifted[size_t(r * cols + j)]) / double(rows);
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < cols; ++j) {
        const double d = double(shifted[size_t(r * cols + j)]) - mean[size_t(j)];
        sd[size_t(j)] += d * d / double(rows);
      }
    for (double& s : sd) s = std::sqrt(s);
    CHECK(m.count() == rows);
    CHECK(relative_gap(m.mean(), mean) < 1e-13);
    CHECK(relative_gap(m.std(), sd) < 1e-9);  // the float64 reference itself sums 276 rounded squares
  }
}

// The statistics of `names` over every staged sample: one store for all of them, and
// streamed through the model's chunk store. The stores live in host memory (a stand-in
// device's stores cannot be read by the CUDA statistics kernels).
template <typename Model>
void check_streamed(Model& whole, Model& streamed, const std::vector<std::string>& names, ActivationStoreOptions options,
                    const std::string& what) {
  options.only = names;
  ActivationStore all(whole.capture_points(), options);
  whole.capture_staged(all, nullptr);
  ActivationStoreOptions chunk = streamed.staged_chunk_options();
  chunk.only = names;
  ActivationStore small(streamed.capture_points(), chunk);
  CHECK(small.capacity() < all.capacity());
  fusion::StreamedColumnStats stats(small);
  streamed.capture_staged(small, nullptr, [&] { stats.drain(); });
  CHECK(stats.names() == names);
  for (size_t k = 0; k < names.size(); ++k) {
    const int64_t i = all.find(names[k]);
    const int64_t rows = all.rows(size_t(i)), cols = all.cols(size_t(i));
    std::vector<double> mean(static_cast<size_t>(cols)), sd(static_cast<size_t>(cols));
    fusion::column_mean_std_on(all.backend(), all.data(size_t(i)), rows, cols, mean.data(), sd.data());
    CHECK(stats.moments()[k].count() == rows);
    if (!(relative_gap(stats.moments()[k].mean(), mean) < 1e-9 && relative_gap(stats.moments()[k].std(), sd) < 1e-9))
      record_failure(__FILE__, __LINE__, what + ", " + names[k] + ": streamed statistics differ");
  }
}

TEST("a staged capture drained chunk by chunk gives the statistics of a capture into one store (ViT)") {
  const int64_t n = 9;
  const VitFixture f(2, 341, n);
  const VitConfig& c = f.config;
  const auto& points = vit_capture_points(c);
  const std::vector<std::string> names = {points[vit_point_patch()].name, points[vit_point_layer(0, kQuery)].name,
                                          points[vit_point_layer(0, kMlpIn)].name, points[vit_point_layer(1, kMlpOut)].name};
  StandInDevice device;
  for (Backend* be : {&cpu_backend(), static_cast<Backend*>(&device)}) {
    VitModel whole(c, *be, f.params.data(), f.layout.total()), streamed(c, *be, f.params.data(), f.layout.total());
    for (VitModel* m : {&whole, &streamed}) {
      m->set_micro_batch(4);
      m->stage_samples(f.images.data(), n);
    }
    ActivationStoreOptions o;
    o.capacity = n;
    check_streamed(whole, streamed, names, o, be == &device ? "stand-in device" : "cpu");
  }
}

TEST("a staged capture drained chunk by chunk gives the statistics of a capture into one store (BERT)") {
  const BertFixture f(small_bert(BertHead::MaskedLM, 16, 2, 2, 37), 351, 7, 9);
  const auto& points = bert_capture_points(f.config);
  const std::vector<std::string> names = {points[bert_point_layer(0, kBertQuery)].name,
                                          points[bert_point_layer(1, kBertMlpIn)].name,
                                          points[bert_point_head(f.config)].name};
  StandInDevice packing, padded(false);
  for (Backend* be : {&cpu_backend(), static_cast<Backend*>(&packing), static_cast<Backend*>(&padded)}) {
    BertModel whole(f.config, *be, f.params.data(), f.layout.total());
    BertModel streamed(f.config, *be, f.params.data(), f.layout.total());
    for (BertModel* m : {&whole, &streamed}) {
      m->set_micro_batch(3);
      m->stage_samples(f.batch.inputs(0, 4));
      m->stage_samples(f.batch.inputs(4));
    }
    ActivationStoreOptions o;
    o.capacity = f.batch.count;
    o.max_tokens = f.batch.tokens;
    check_streamed(whole, streamed, names, o,
                   be == &cpu_backend() ? "cpu" : be == &packing ? "packing device" : "padded device");
  }
}

}  // namespace
}  // namespace tf::test
