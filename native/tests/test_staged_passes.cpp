// Staged passes (VitModel / BertModel::capture_staged, statistics repair's measurements):
// every capture point captured from the residual streams carried to its stage must equal a
// plain capture from the inputs, bit for bit on the same backend, with parameters written
// between captures; a point or a parameter of a stage already passed is refused. Run on
// the CPU and on the stand-in device, packing and not packing padded text (as CUDA).
#include <algorithm>
#include <cmath>
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


// --- Re-entering a layer after a rescaled group (layer_resume.h) ------------------------

// One linear group of a layer: its capture points (in the order of its output neurons)
// and its weight (rows x cols) and bias in the parameter buffer.
struct LinearGroup {
  std::vector<std::string> points;
  int64_t weight = 0, bias = 0, rows = 0, cols = 0;
};

ActivationStoreOptions keep(const std::vector<std::string>& names, int64_t capacity, int64_t max_tokens) {
  ActivationStoreOptions o = only(names.front(), capacity, max_tokens);
  o.only = names;
  return o;
}

double largest_difference(const std::vector<float>& a, const std::vector<float>& b, double& largest_value) {
  double d = 0;
  largest_value = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    d = std::max(d, std::fabs(double(a[i]) - double(b[i])));
    largest_value = std::max(largest_value, std::fabs(double(b[i])));
  }
  return a.size() == b.size() ? d : INFINITY;
}

// Repair's walk: each group measured in forward order, then its output neurons rescaled
// (W' = a W, b' = a b + c, random a and c) on both models and declared to the staged one,
// which re-enters the layer after it instead of recomputing it. Every measurement and the
// model's last point must agree with a plain capture of the rescaled model, to rounding.
template <typename Model, typename Plain>
void rescaled_walk(Model& staged, Model& plain, const std::vector<LinearGroup>& groups, int64_t count,
                   int64_t max_tokens, const std::string& last_point, const Plain& capture_plain,
                   const std::string& name) {
  std::vector<float> all(size_t(plain.layout().total()));
  uint32_t seed = 700;
  auto compare = [&](const std::vector<std::string>& names) {
    ActivationStore a(staged.capture_points(), keep(names, count, max_tokens), staged.backend());
    ActivationStore b(plain.capture_points(), keep(names, count, max_tokens), plain.backend());
    CHECK(staged.capture_staged(a, nullptr) == count);
    capture_plain(b);
    for (const std::string& point : names) {
      double scale = 0;
      const double d = largest_difference(entry_of(a, point), entry_of(b, point), scale);
      if (!(d <= 2e-5 * (1.0 + scale)))
        record_failure(__FILE__, __LINE__, name + ", " + point + ": re-entered capture off by " + std::to_string(d));
    }
  };
  for (const LinearGroup& g : groups) {
    compare(g.points);
    const std::vector<float> a = random_vector(size_t(g.rows), ++seed, 0.5f, 1.5f);
    const std::vector<float> c = random_vector(size_t(g.rows), ++seed, -0.3f, 0.3f);
    plain.read_parameters(all.data());
    std::vector<double> scale(a.begin(), a.end()), shift(c.begin(), c.end());
    for (int64_t r = 0; r < g.rows; ++r) {
      for (int64_t k = 0; k < g.cols; ++k) {
        float& w = all[size_t(g.weight + r * g.cols + k)];
        w = float(double(a[r]) * w);
      }
      float& b = all[size_t(g.bias + r)];
      b = float(double(a[r]) * b + c[r]);
    }
    for (Model* m : {&staged, &plain}) {
      m->write_parameters(g.weight, all.data() + g.weight, g.rows * g.cols);
      m->write_parameters(g.bias, all.data() + g.bias, g.rows);
    }
    if (!staged.rescale_staged(g.points, scale, shift))
      record_failure(__FILE__, __LINE__, name + ", " + g.points.front() + ": the rescale was not taken");
  }
  compare({last_point});
}

// The declarations rescale_staged refuses (the next capture then starts the layer over),
// and one it takes on trust: with the parameters written but unchanged, a declared
// doubling shows in the next capture, which proves that capture re-entered the layer.
template <typename Model>
void rescale_guards(Model& staged, const LinearGroup& qkv, const std::string& after, int64_t count,
                    int64_t max_tokens, const std::vector<float>& params, const std::string& name) {
  auto capture = [&](const std::vector<std::string>& names) {
    ActivationStore s(staged.capture_points(), keep(names, count, max_tokens), staged.backend());
    CHECK(staged.capture_staged(s, nullptr) == count);
    return entry_of(s, names.back());
  };
  const std::vector<double> ones(size_t(qkv.rows), 1.0), zeros(size_t(qkv.rows), 0.0);
  capture(qkv.points);
  const std::vector<float> reference = capture({after});  // nothing rescaled: re-entered, the same values
  capture(qkv.points);
  // Not written since kept: refused.
  if (staged.rescale_staged(qkv.points, ones, zeros)) record_failure(__FILE__, __LINE__, name + ": took an unwritten rescale");
  check_same(name + ", after a refused rescale", capture({after}), reference);
  capture(qkv.points);
  staged.write_parameters(qkv.weight, params.data() + qkv.weight, qkv.rows * qkv.cols);
  // Part of the group only: refused.
  const std::vector<std::string> query_only = {qkv.points.front()};
  const std::vector<double> third(size_t(qkv.rows / 3), 1.0), third0(size_t(qkv.rows / 3), 0.0);
  if (staged.rescale_staged(query_only, third, third0)) record_failure(__FILE__, __LINE__, name + ": took part of a group");
  check_same(name + ", after a partial rescale", capture({after}), reference);
  capture(qkv.points);
  staged.write_parameters(qkv.weight, params.data() + qkv.weight, qkv.rows * qkv.cols);
  const std::vector<double> twos(size_t(qkv.rows), 2.0);
  CHECK(staged.rescale_staged(qkv.points, twos, zeros));
  double scale = 0;
  if (!(largest_difference(capture({after}), reference, scale) > 1e-3 * (1.0 + scale)))
    record_failure(__FILE__, __LINE__, name + ": the capture after a declared rescale did not re-enter the layer");
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

TEST("ViT staged captures re-enter layers after rescaled groups and agree with plain passes") {
  const int64_t n = 9;
  const VitFixture f(3, 321, n);
  const VitConfig& c = f.config;
  const VitParamLayout& layout = f.layout;
  const std::vector<float>& params = f.params;
  const std::vector<float>& images = f.images;
  const int64_t C = c.hidden_size, I = c.intermediate_size;
  const auto& points = vit_capture_points(c);
  auto point = [&](int64_t l, VitLayerPoint p) { return points[vit_point_layer(l, p)].name; };
  std::vector<LinearGroup> groups;
  for (int64_t l = 0; l < c.num_layers; ++l) {
    const VitLayerOffsets& o = layout.layers[size_t(l)];
    groups.push_back({{point(l, kQuery), point(l, kKey), point(l, kValue)}, o.qkv_w, o.qkv_b, 3 * C, C});
    groups.push_back({{point(l, kAttnOut)}, o.proj_w, o.proj_b, C, C});
    groups.push_back({{point(l, kMlpIn)}, o.fc1_w, o.fc1_b, I, C});
    groups.push_back({{point(l, kMlpOut)}, o.fc2_w, o.fc2_b, C, I});
  }
  StandInDevice device;
  // And the GPU, when the tests run with --device cuda.
  std::vector<Backend*> backends = {&cpu_backend(), &device};
  if (device_backend().device() != Device::Cpu) backends.push_back(&device_backend());
  for (Backend* be : backends) {
    const std::string name = be == &device ? "stand-in device" : device_name(be->device());
    VitModel staged(c, *be, params.data(), layout.total()), plain(c, *be, params.data(), layout.total());
    staged.set_micro_batch(4);
    plain.set_micro_batch(4);
    staged.stage_samples(images.data(), n);
    rescaled_walk(staged, plain, groups, n, 0, "head",
                  [&](ActivationStore& s) { plain.capture(s, images.data(), n, nullptr, nullptr); }, name);

    VitModel guarded(c, *be, params.data(), layout.total());
    guarded.set_micro_batch(4);
    guarded.stage_samples(images.data(), n);
    rescale_guards(guarded, groups[4], point(1, kAttnOut), n, 0, params, name);
  }
}

TEST("BERT staged captures re-enter layers after rescaled groups, packed and padded") {
  for (BertHead head : {BertHead::MaskedLM, BertHead::SequenceClassification}) {
    const BertFixture f(small_bert(head, 16, 3, 2, 37), 331, 7, 9);
    const int64_t C = f.config.hidden_size, I = f.config.intermediate_size;
    const auto& points = bert_capture_points(f.config);
    auto point = [&](int64_t l, BertLayerPoint p) { return points[bert_point_layer(l, p)].name; };
    std::vector<LinearGroup> groups;
    for (int64_t l = 0; l < f.config.num_layers; ++l) {
      const BertLayerOffsets& o = f.layout.layers[size_t(l)];
      groups.push_back({{point(l, kBertQuery), point(l, kBertKey), point(l, kBertValue)}, o.qkv_w, o.qkv_b, 3 * C, C});
      groups.push_back({{point(l, kBertAttnOut)}, o.attn_out_w, o.attn_out_b, C, C});
      groups.push_back({{point(l, kBertMlpIn)}, o.mlp_in_w, o.mlp_in_b, I, C});
      groups.push_back({{point(l, kBertMlpOut)}, o.mlp_out_w, o.mlp_out_b, C, I});
    }
    StandInDevice packing, padded(false);
    std::vector<Backend*> backends = {&cpu_backend(), &packing, &padded};
    if (device_backend().device() != Device::Cpu) backends.push_back(&device_backend());
    for (Backend* be : backends) {
      const std::string name = f.head() + ", " +
                               (be == &packing  ? "packing device"
                                : be == &padded ? "padded device"
                                                : device_name(be->device()));
      const TextBatch& b = f.batch;
      BertModel staged(f.config, *be, f.params.data(), f.layout.total());
      BertModel plain(f.config, *be, f.params.data(), f.layout.total());
      staged.set_micro_batch(3);
      plain.set_micro_batch(3);
      staged.stage_samples(b.inputs(0, 4));
      staged.stage_samples(b.inputs(4));
      rescaled_walk(staged, plain, groups, b.count, b.tokens, points[bert_point_head(f.config)].name,
                    [&](ActivationStore& s) {
                      plain.capture(s, b.inputs(0, 4), nullptr, nullptr);
                      plain.capture(s, b.inputs(4), nullptr, nullptr);
                    },
                    name);

      BertModel guarded(f.config, *be, f.params.data(), f.layout.total());
      guarded.set_micro_batch(3);
      guarded.stage_samples(b.inputs(0, 4));
      guarded.stage_samples(b.inputs(4));
      rescale_guards(guarded, groups[4], point(1, kBertAttnOut), b.count, b.tokens, f.params, name);
    }
  }
}

}  // namespace
}  // namespace tf::test
