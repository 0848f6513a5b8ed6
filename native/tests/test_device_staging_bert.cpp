// What a device backend does differently from the CPU in BertModel and BertTrainer,
// checked on a machine without a GPU through the stand-in device (stand_in_device.h):
// token ids, types, masks, labels and gather indices staged to device memory, padded
// and packed batches, results read back, activations of padded sequences copied into
// a host-side store or kept in a store on the device, and training steps whose state lives on the device. Everything
// must be bit-identical to the CPU backend.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "../core/activations/activation_store.h"
#include "../core/bert/bert_model.h"
#include "../core/train/bert_trainer.h"
#include "check.h"
#include "model_fixtures.h"
#include "stand_in_device.h"

namespace tf::test {
namespace {

template <typename T>
void check_same_bits(const std::string& what, const std::vector<T>& a, const std::vector<T>& b) {
  const bool same = a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
  if (!same) record_failure(__FILE__, __LINE__, what + " differs between the CPU and the device path");
}

// Every output the callers of BertModel::forward ask for, on both backends.
void compare_forward(BertModel& cpu, BertModel& dev, const TextBatch& b, const std::string& name) {
  const BertConfig& c = cpu.config();
  const int64_t per_row = c.masked_lm() ? b.tokens : 1, width = c.masked_lm() ? c.vocab_size : c.num_labels;
  const size_t results = size_t(b.count * per_row);
  struct Ask { const char* what; bool logits, labels; };
  // Logits keep the padding (the masked path); labels alone, or predictions alone, let
  // the model pack the batch.
  for (Ask ask : {Ask{"logits", true, true}, Ask{"labels only", false, true}, Ask{"predictions only", false, false}}) {
    std::vector<float> lc(ask.logits ? results * size_t(width) : 0), ld(lc.size());
    std::vector<float> sc(results), sd(results);
    std::vector<int32_t> pc(results), pd(results);
    BertOutputs oc{ask.logits ? lc.data() : nullptr, ask.labels ? sc.data() : nullptr, pc.data()};
    BertOutputs od{ask.logits ? ld.data() : nullptr, ask.labels ? sd.data() : nullptr, pd.data()};
    const int32_t* labels = ask.labels ? b.labels.data() : nullptr;
    cpu.forward(b.inputs(), labels, oc, nullptr);
    dev.forward(b.inputs(), labels, od, nullptr);
    const std::string what = name + ", " + ask.what;
    check_same_bits(what + ": logits", ld, lc);
    if (ask.labels) check_same_bits(what + ": losses", sd, sc);
    check_same_bits(what + ": predictions", pd, pc);
  }
}

void compare_capture(BertModel& cpu, BertModel& dev, const TextBatch& b, const std::string& name) {
  for (bool average : {false, true}) {
    ActivationStoreOptions o;
    o.capacity = b.count;
    o.average_tokens = average;
    o.max_tokens = b.tokens;
    // sd: a host store filled from the device; sr: a store resident on the device.
    ActivationStore sc(cpu.capture_points(), o), sd(dev.capture_points(), o), sr(dev.capture_points(), o, dev.backend());
    // Two calls on both, as a pipeline brings its samples.
    const int64_t first = 3;
    const int32_t* labels = b.labels.data();
    CHECK(cpu.capture(sc, b.inputs(0, first), labels, nullptr) == first);
    CHECK(cpu.capture(sc, b.inputs(first), b.labels_from(cpu.config(), first), nullptr) == b.count - first);
    CHECK(dev.capture(sd, b.inputs(0, first), labels, nullptr) == first);
    CHECK(dev.capture(sd, b.inputs(first), b.labels_from(cpu.config(), first), nullptr) == b.count - first);
    CHECK(dev.capture(sr, b.inputs(0, first), labels, nullptr) == first);
    CHECK(dev.capture(sr, b.inputs(first), b.labels_from(cpu.config(), first), nullptr) == b.count - first);
    CHECK(sc.sample_tokens() == sr.sample_tokens());
    CHECK(sc.num_samples() == sd.num_samples());
    CHECK(sc.sample_tokens() == sd.sample_tokens());
    const std::string what = name + (average ? ", averaged capture" : ", capture");
    for (size_t i = 0; i < sc.entry_count(); ++i) {
      CHECK(sc.rows(i) == sd.rows(i));
      const size_t n = size_t(sc.rows(i) * sc.cols(i));
      check_same_bits(what + ": " + sc.entry(i).name, std::vector<float>(sd.data(i), sd.data(i) + n),
                      std::vector<float>(sc.data(i), sc.data(i) + n));
      std::vector<float> resident(n);
      sr.copy_to_host(i, resident.data());
      check_same_bits(what + " on the device: " + sc.entry(i).name, resident, std::vector<float>(sc.data(i), sc.data(i) + n));
    }
    check_same_bits(what + ": losses", std::vector<float>(sd.losses(), sd.losses() + b.count),
                    std::vector<float>(sc.losses(), sc.losses() + b.count));
    // Dropping samples moves whole variable-length runs of rows.
    std::vector<uint8_t> mask(size_t(b.count), 1);
    mask[1] = 0;
    sc.keep(mask.data(), b.count);
    sr.keep(mask.data(), b.count);
    CHECK(sc.sample_tokens() == sr.sample_tokens());
    sc.finalize(ActivationTransform::Center);
    sr.finalize(ActivationTransform::Center);
    for (size_t i = 0; i < sc.entry_count(); ++i) {
      CHECK(sc.rows(i) == sr.rows(i));
      std::vector<float> resident(size_t(sc.rows(i) * sc.cols(i)));
      sr.copy_to_host(i, resident.data());
      check_same_bits(what + " on the device, after keep and center: " + sc.entry(i).name, resident,
                      std::vector<float>(sc.data(i), sc.data(i) + resident.size()));
    }
  }
}

TEST("device paths of BertModel (padded and packed batches, capture) match the CPU bit for bit") {
  for (BertHead head : {BertHead::MaskedLM, BertHead::SequenceClassification}) {
    const BertFixture f(small_bert(head, 16, 2, 2, 37), 91, 7, 9);
    StandInDevice device;
    BertModel cpu(f.config, cpu_backend(), f.params.data(), f.layout.total());
    BertModel dev(f.config, device, f.params.data(), f.layout.total());
    cpu.set_micro_batch(3);
    dev.set_micro_batch(3);
    compare_forward(cpu, dev, f.batch, f.head());
    compare_capture(cpu, dev, f.batch, f.head());
    std::vector<float> back(f.params.size());
    dev.read_parameters(back.data());
    check_same_bits(f.head() + ": parameters read back", back, f.params);
  }
}

TEST("device paths of BertTrainer (gradients, steps with AdamW) match the CPU bit for bit") {
  for (BertHead head : {BertHead::MaskedLM, BertHead::SequenceClassification}) {
    const BertFixture f(small_bert(head, 16, 2, 2, 37), 93, 6, 9);
    const BertConfig& c = f.config;
    const TextBatch& b = f.batch;
    const std::vector<float>& params = f.params;
    const std::string name = f.head();
    TrainerConfig tc;
    tc.schedule.base_lr = 1e-3;
    tc.schedule.total_steps = 4;
    tc.weight_decay = 0.01;
    tc.label_smoothing = 0.1f;
    tc.max_grad_norm = 1.0;
    StandInDevice device;
    BertTrainer cpu(c, cpu_backend(), params.data(), f.layout.total(), b.count, 4, b.tokens);
    BertTrainer dev(c, device, params.data(), f.layout.total(), b.count, 4, b.tokens);
    cpu.configure(tc);
    dev.configure(tc);
    std::vector<float> gc(params.size()), gd(params.size());
    const BertStepResult rc = cpu.gradients(b.inputs(), b.labels.data(), gc.data(), nullptr);
    const BertStepResult rd = dev.gradients(b.inputs(), b.labels.data(), gd.data(), nullptr);
    check_same_bits(name + ": gradients", gd, gc);
    CHECK(rc.loss == rd.loss && rc.correct == rd.correct && rc.labelled == rd.labelled);
    for (int s = 0; s < 2; ++s) {
      const BertStepResult sc = cpu.step(b.inputs(), b.labels.data(), nullptr);
      const BertStepResult sd = dev.step(b.inputs(), b.labels.data(), nullptr);
      CHECK(sc.loss == sd.loss && sc.grad_norm == sd.grad_norm && sc.correct == sd.correct);
    }
    std::vector<float> pc(params.size()), pd(params.size());
    cpu.read_parameters(pc.data());
    dev.read_parameters(pd.data());
    check_same_bits(name + ": parameters after two steps", pd, pc);
  }
}

// Largest |a - b| over the largest |b|: the padded path sums the same terms as the packed
// one, but its matrix products run over other row counts, so agreement is to float32
// rounding rather than bit for bit.
double scaled_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double d = 0, m = 1e-30;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    d = std::max(d, double(std::fabs(a[i] - b[i])));
    m = std::max(m, double(std::fabs(b[i])));
  }
  return a.size() == b.size() ? d / m : INFINITY;
}

TEST("a device that keeps padded batches whole (as CUDA does) gives the packed results") {
  for (BertHead head : {BertHead::MaskedLM, BertHead::SequenceClassification}) {
    const BertFixture f(small_bert(head, 16, 2, 2, 37), 95, 7, 9);
    const BertConfig& c = f.config;
    const TextBatch& b = f.batch;
    StandInDevice device(false);
    BertModel cpu(c, cpu_backend(), f.params.data(), f.layout.total());
    BertModel dev(c, device, f.params.data(), f.layout.total());
    const size_t results = size_t(b.count * (c.masked_lm() ? b.tokens : 1));
    for (bool labelled : {true, false}) {
      std::vector<float> sc(results), sd(results);
      std::vector<int32_t> pc(results), pd(results);
      const int32_t* labels = labelled ? b.labels.data() : nullptr;
      cpu.forward(b.inputs(), labels, {nullptr, labelled ? sc.data() : nullptr, pc.data()}, nullptr);
      dev.forward(b.inputs(), labels, {nullptr, labelled ? sd.data() : nullptr, pd.data()}, nullptr);
      const std::string what = f.head() + (labelled ? ", labels" : ", predictions alone");
      // Same predictions, -1 on padding included; losses NaN at the same places.
      if (pc != pd) record_failure(__FILE__, __LINE__, what + ": predictions differ");
      for (size_t r = 0; r < results; ++r)
        if (std::isnan(sc[r]) != std::isnan(sd[r])) record_failure(__FILE__, __LINE__, what + ": losses at other rows");
      for (float& x : sc) x = std::isnan(x) ? 0.0f : x;
      for (float& x : sd) x = std::isnan(x) ? 0.0f : x;
      CHECK(scaled_diff(sd, sc) < 1e-5);
    }
    ActivationStoreOptions o;
    o.capacity = b.count;
    o.max_tokens = b.tokens;
    ActivationStore sc(cpu.capture_points(), o), sd(dev.capture_points(), o);
    CHECK(cpu.capture(sc, b.inputs(), b.labels.data(), nullptr) == b.count);
    CHECK(dev.capture(sd, b.inputs(), b.labels.data(), nullptr) == b.count);
    CHECK(sc.sample_tokens() == sd.sample_tokens());
    for (size_t i = 0; i < sc.entry_count(); ++i) {
      CHECK(sc.rows(i) == sd.rows(i));
      const size_t n = size_t(sc.rows(i) * sc.cols(i));
      CHECK(scaled_diff(std::vector<float>(sd.data(i), sd.data(i) + n), std::vector<float>(sc.data(i), sc.data(i) + n)) <
            1e-5);
    }
    BertTrainer tc(c, cpu_backend(), f.params.data(), f.layout.total(), b.count, 4, b.tokens);
    BertTrainer td(c, device, f.params.data(), f.layout.total(), b.count, 4, b.tokens);
    std::vector<float> gc(f.params.size()), gd(f.params.size());
    const BertStepResult rc = tc.gradients(b.inputs(), b.labels.data(), gc.data(), nullptr);
    const BertStepResult rd = td.gradients(b.inputs(), b.labels.data(), gd.data(), nullptr);
    CHECK(rc.labelled == rd.labelled && rc.correct == rd.correct);
    CHECK_NEAR(rd.loss, rc.loss, 1e-5 * std::fabs(rc.loss));
    CHECK(scaled_diff(gd, gc) < 1e-4);
  }
}

}  // namespace
}  // namespace tf::test
