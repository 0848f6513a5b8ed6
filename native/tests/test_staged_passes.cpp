// Staged passes (VitModel / BertModel::capture_staged, statistics repair's measurements):
// every capture point captured from the residual streams carried to its stage must equal a
// plain capture from the inputs, bit for bit on the same backend, with parameters written
// between captures; a point or a parameter of a stage already passed is refused. Run on
// the CPU and on the stand-in device, packing and not packing padded text (as CUDA).
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "../core/activations/activation_store.h"
#include "../core/bert/bert_capture.h"
#include "../core/bert/bert_model.h"
#include "../core/error.h"
#include "../core/vit/vit_capture.h"
#include "../core/vit/vit_model.h"
#include "check.h"
#include "model_fixtures.h"
#include "stand_in_device.h"
#include "test_device.h"

namespace tf::test {
namespace {

// Entry `name` of a store that keeps it alone, in host memory.
std::vector<float> entry_of(const ActivationStore& s, const std::string& name) {
  const int64_t i = s.find(name);
  std::vector<float> out(size_t(s.rows(size_t(i)) * s.cols(size_t(i))));
  s.copy_to_host(size_t(i), out.data());
  return out;
}

ActivationStoreOptions only(const std::string& name, int64_t capacity, int64_t max_tokens = 0) {
  ActivationStoreOptions o;
  o.capacity = capacity;
  o.max_tokens = max_tokens;
  o.only = {name};
  return o;
}

void check_same(const std::string& what, const std::vector<float>& a, const std::vector<float>& b) {
  if (a.size() != b.size() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) != 0)
    record_failure(__FILE__, __LINE__, what + ": the staged capture differs from a plain one");
}

// Walks the points in forward order on `staged` (samples staged once) and checks each
// against `plain`'s capture; halfway, rescales a parameter block of the stage reached on
// both models, which later points must see. `capture_plain` / `capture_staged` fill a store.
template <typename Model, typename Plain>
void walk_points(Model& staged, Model& plain, int64_t count, int64_t max_tokens, int64_t scaled_offset,
                 int64_t scaled_count, size_t scale_after, const Plain& capture_plain, const std::string& name) {
  const auto& points = staged.capture_points();
  for (size_t p = 0; p < points.size(); ++p) {
    ActivationStore a(points, only(points[p].name, count, max_tokens), staged.backend());
    ActivationStore b(points, only(points[p].name, count, max_tokens), plain.backend());
    CHECK(staged.capture_staged(a, nullptr) == count);
    capture_plain(b);
    check_same(name + ", " + points[p].name, entry_of(a, points[p].name), entry_of(b, points[p].name));
    if (p == scale_after) {
      std::vector<float> all(size_t(plain.layout().total()));
      plain.read_parameters(all.data());
      std::vector<float> block(all.begin() + scaled_offset, all.begin() + scaled_offset + scaled_count);
      for (float& x : block) x *= 1.75f;
      staged.write_parameters(scaled_offset, block.data(), scaled_count);
      plain.write_parameters(scaled_offset, block.data(), scaled_count);
    }
  }
}

TEST("ViT staged captures equal plain captures, after parameter writes too, on the CPU and a device") {
  const VitConfig c = toy_vit(3);
  const VitParamLayout layout(c);
  const std::vector<float> params = random_vector(size_t(layout.total()), 301, -0.5f, 0.5f);
  const int64_t n = 9;
  const std::vector<float> images = random_vector(size_t(n * c.image_floats()), 302, -2.0f, 2.0f);
  StandInDevice device;
  for (Backend* be : {&cpu_backend(), static_cast<Backend*>(&device)}) {
    VitModel staged(c, *be, params.data(), layout.total()), plain(c, *be, params.data(), layout.total());
    staged.set_micro_batch(4);
    plain.set_micro_batch(4);
    // A capture without labels stops right after its last point, inside that point's layer;
    // with labels the pass runs to the losses. Both must file the same rows.
    std::vector<int32_t> labels(static_cast<size_t>(n), 1);
    for (const CapturePoint& point : plain.capture_points()) {
      ActivationStore stopped(plain.capture_points(), only(point.name, n), *be);
      ActivationStore whole(plain.capture_points(), only(point.name, n), *be);
      plain.capture(stopped, images.data(), n, nullptr, nullptr);
      plain.capture(whole, images.data(), n, labels.data(), nullptr);
      check_same(point.name + ": stopped against a whole pass", entry_of(stopped, point.name), entry_of(whole, point.name));
    }
    staged.stage_samples(images.data(), 5);  // two calls, as repair stages its batches
    staged.stage_samples(images.data() + 5 * c.image_floats(), n - 5);
    // Layer 1's MLP input weights, rescaled once layer 1's attention output was captured.
    const int64_t offset = layout.layers[1].fc1_w, count = c.intermediate_size * c.hidden_size;
    const std::string name = be == &device ? "stand-in device" : "cpu";
    walk_points(staged, plain, n, 0, offset, count, vit_point_layer(1, kAttnOut),
                [&](ActivationStore& s) { plain.capture(s, images.data(), n, nullptr, nullptr); }, name);
    CHECK(staged.staged_stage() == c.num_layers);
    // The samples are past every layer now: layer 1 can be neither measured nor written.
    ActivationStore again(staged.capture_points(), only(staged.capture_points()[vit_point_layer(1, kMlpIn)].name, n), *be);
    CHECK_THROWS(staged.capture_staged(again, nullptr));
    CHECK_THROWS(staged.write_parameters(offset, params.data(), 4));
    staged.write_parameters(layout.head_w, params.data(), 4);  // the head is still ahead of them
    staged.clear_staged();
    CHECK(staged.staged_count() == 0);
  }
}

TEST("BERT staged captures equal plain captures, packed and padded, after parameter writes too") {
  for (BertHead head : {BertHead::MaskedLM, BertHead::SequenceClassification}) {
    const BertFixture f(small_bert(head, 16, 3, 2, 37), 311, 7, 9);
    StandInDevice packing, padded(false);
    for (Backend* be : {&cpu_backend(), static_cast<Backend*>(&packing), static_cast<Backend*>(&padded)}) {
      BertModel staged(f.config, *be, f.params.data(), f.layout.total());
      BertModel plain(f.config, *be, f.params.data(), f.layout.total());
      staged.set_micro_batch(3);
      plain.set_micro_batch(3);
      const TextBatch& b = f.batch;
      staged.stage_samples(b.inputs(0, 4));
      staged.stage_samples(b.inputs(4));
      const int64_t offset = f.layout.layers[1].mlp_in_w, count = f.config.intermediate_size * f.config.hidden_size;
      const std::string name = f.head() + (be == &cpu_backend() ? ", cpu" : be == &packing ? ", packing device" : ", padded device");
      walk_points(staged, plain, b.count, b.tokens, offset, count, bert_point_layer(1, kBertAttnOut),
                  [&](ActivationStore& s) {
                    plain.capture(s, b.inputs(0, 4), nullptr, nullptr);
                    plain.capture(s, b.inputs(4), nullptr, nullptr);
                  },
                  name);
      CHECK(staged.staged_stage() == f.config.num_layers);
      CHECK_THROWS(staged.write_parameters(offset, f.params.data(), 4));
    }
  }
}

}  // namespace
}  // namespace tf::test
