// The whole BERT on the CUDA backend against the CPU backend, masked LM and classifier,
// on batches with padding: the forward pass as its callers use it (logits, which keep
// the padding; labels or predictions alone, which let the model pack the batch), over
// several micro-batches; activation capture of padded sequences into a host store; the
// gradients of the mean loss and training steps with AdamW. Runs with --device cuda only.
//
// Bounds, as for the ViT (test_cuda_vit.cpp): logits, losses and activations within
// 2e-4 of the matrix's largest entry (+ 1e-4 relative); gradients within 1e-3 of each
// tensor's largest gradient (+ 1e-4 relative); after the steps, 99.9% of the parameters
// within 1e-5 (+ 1e-4 relative) and every one within 2 lr per step. A top logit may
// change places with a near-tie: a prediction may differ only where the CPU's logit of
// the GPU's choice is within the logits' bound of the CPU's best.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "../../core/activations/activation_store.h"
#include "../../core/bert/bert_model.h"
#include "../../core/train/bert_trainer.h"
#include "../model_fixtures.h"
#include "cuda_compare.h"

namespace tf::test {
namespace {

// Rows whose predictions differ and whose logits do not excuse it (see the bounds above).
void expect_predictions(const std::string& what, const std::vector<int32_t>& got, const std::vector<int32_t>& want,
                        const std::vector<float>& cpu_logits, int64_t width) {
  const double allowed = 2e-4 * std::max(max_abs(cpu_logits), 1e-6);
  size_t moved = 0, unexplained = 0;
  for (size_t r = 0; r < got.size(); ++r) {
    if (got[r] == want[r]) continue;
    ++moved;
    const float* z = cpu_logits.data() + r * size_t(width);
    if (got[r] < 0 || want[r] < 0 || !(double(z[want[r]]) - double(z[got[r]]) <= allowed)) ++unexplained;
  }
  std::printf("    %s: %zu of %zu differ (near-ties), %zu beyond the logits' bound\n", what.c_str(), moved, got.size(),
              unexplained);
  if (unexplained) record_failure(__FILE__, __LINE__, what + ": predictions differ beyond a near-tie");
}

TEST("cuda vs cpu: BERT forward (masked LM and classifier; padded and packed batches; micro-batches)") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  for (BertHead head : {BertHead::MaskedLM, BertHead::SequenceClassification}) {
    for (int64_t hidden : {64, 192}) {
      const BertFixture f(small_bert(head, hidden, 2, hidden / 32, 301), 51, 19, 24);
      const BertConfig& c = f.config;
      const TextBatch& b = f.batch;
      const std::string name = f.head() + " hidden " + std::to_string(hidden);
      part(name, [&] {
        BertModel cpu(c, cpu_backend(), f.params.data(), f.layout.total());
        BertModel dev(c, *gpu, f.params.data(), f.layout.total());
        for (BertModel* m : {&cpu, &dev}) m->set_micro_batch(8);
        const int64_t per_row = c.masked_lm() ? b.tokens : 1, width = c.masked_lm() ? c.vocab_size : c.num_labels;
        const size_t results = size_t(b.count * per_row);

        // Logits wanted: every token is decoded, the padding kept. The CPU's logits also
        // judge the predictions of the other calls.
        std::vector<float> lc(results * size_t(width)), lg(lc.size());
        {
          std::vector<float> sc(results), sg(results);
          std::vector<int32_t> pc(results), pg(results);
          cpu.forward(b.inputs(), b.labels.data(), {lc.data(), sc.data(), pc.data()}, nullptr);
          dev.forward(b.inputs(), b.labels.data(), {lg.data(), sg.data(), pg.data()}, nullptr);
          expect_scaled(name + " logits", lg, lc, 2e-4, 1e-4);
          expect_scaled(name + " losses", sg, sc, 2e-4, 1e-4);
          expect_predictions(name + " predictions", pg, pc, lc, width);
        }
        // Labels alone (packed; a masked LM decodes its labelled tokens only), then
        // predictions alone (packed, every real token decoded).
        for (bool labelled : {true, false}) {
          const int32_t* labels = labelled ? b.labels.data() : nullptr;
          std::vector<float> sc(results), sg(results);
          std::vector<int32_t> pc(results), pg(results);
          cpu.forward(b.inputs(), labels, {nullptr, labelled ? sc.data() : nullptr, pc.data()}, nullptr);
          dev.forward(b.inputs(), labels, {nullptr, labelled ? sg.data() : nullptr, pg.data()}, nullptr);
          const std::string what = name + (labelled ? ", labels only" : ", predictions only");
          if (labelled) expect_scaled(what + " losses", sg, sc, 2e-4, 1e-4);
          expect_predictions(what + " predictions", pg, pc, lc, width);
        }
      });
    }
  }
}

TEST("cuda vs cpu: BERT activation capture of padded sequences into a store on the GPU") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  for (BertHead head : {BertHead::MaskedLM, BertHead::SequenceClassification}) {
    const BertFixture f(small_bert(head, 64, 2, 2, 301), 61, 13, 20);
    const BertConfig& c = f.config;
    const TextBatch& b = f.batch;
    BertModel cpu(c, cpu_backend(), f.params.data(), f.layout.total());
    BertModel dev(c, *gpu, f.params.data(), f.layout.total());
    for (BertModel* m : {&cpu, &dev}) m->set_micro_batch(5);
    for (bool average : {false, true}) {
      const std::string name = f.head() + (average ? ", averaged tokens" : ", real tokens");
      part(name, [&] {
        ActivationStoreOptions o;
        o.capacity = b.count;
        o.average_tokens = average;
        o.max_tokens = b.tokens;
        ActivationStore sc(cpu.capture_points(), o), sg(dev.capture_points(), o, *gpu);  // sg on the GPU
        CHECK(cpu.capture(sc, b.inputs(), b.labels.data(), nullptr) == b.count);
        // Two calls on the GPU: the store fills across captures as on the CPU.
        CHECK(dev.capture(sg, b.inputs(0, 6), b.labels.data(), nullptr) == 6);
        CHECK(dev.capture(sg, b.inputs(6), b.labels_from(c, 6), nullptr) == b.count - 6);
        CHECK(sg.sample_tokens() == sc.sample_tokens());
        std::vector<float> loss_c(sc.losses(), sc.losses() + b.count), loss_g(sg.losses(), sg.losses() + b.count);
        expect_scaled(name + " losses", loss_g, loss_c, 2e-4, 1e-4);
        for (size_t i = 0; i < sc.entry_count(); ++i) {
          CHECK(sg.rows(i) == sc.rows(i));
          const size_t n = size_t(sc.rows(i) * sc.cols(i));
          std::vector<float> on_gpu(n);
          sg.copy_to_host(i, on_gpu.data());
          expect_scaled(name + " " + sc.entry(i).name, on_gpu, std::vector<float>(sc.data(i), sc.data(i) + n), 2e-4,
                        1e-4);
        }
      });
    }
  }
}

TEST("cuda vs cpu: BERT gradients of the mean loss, and training steps with AdamW") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  for (BertHead head : {BertHead::MaskedLM, BertHead::SequenceClassification}) {
    const BertFixture f(small_bert(head, 64, 2, 2, 301), 71, 12, 24);
    const BertConfig& c = f.config;
    const BertParamLayout& layout = f.layout;
    const TextBatch& b = f.batch;
    const std::vector<float>& params = f.params;
    const std::string name = f.head();
    TrainerConfig tc;
    tc.schedule.kind = LrScheduleKind::Cosine;
    tc.schedule.base_lr = 1e-3;
    tc.schedule.warmup_steps = 1;
    tc.schedule.total_steps = 6;
    tc.weight_decay = 0.01;
    tc.label_smoothing = 0.1f;
    tc.max_grad_norm = 1.0;
    BertTrainer cpu(c, cpu_backend(), params.data(), layout.total(), b.count, 5, b.tokens);
    BertTrainer dev(c, *gpu, params.data(), layout.total(), b.count, 5, b.tokens);
    cpu.configure(tc);
    dev.configure(tc);

    part(name + " gradients", [&] {
      std::vector<float> gc(params.size()), gg(params.size());
      const BertStepResult rc = cpu.gradients(b.inputs(), b.labels.data(), gc.data(), nullptr);
      const BertStepResult rg = dev.gradients(b.inputs(), b.labels.data(), gg.data(), nullptr);
      CHECK_NEAR(rg.loss, rc.loss, 1e-5 * std::fabs(rc.loss) + 1e-6);
      CHECK(rg.labelled == rc.labelled);
      int tensors = 0;
      for (const ParamTensor& t : layout.tensors()) {
        std::vector<float> a(gg.begin() + t.offset, gg.begin() + t.offset + t.size),
            w(gc.begin() + t.offset, gc.begin() + t.offset + t.size);
        expect_close("grad " + t.name, a, w, gradient_bound(layout.tensors(), t, gc, gg), 1e-4);
        ++tensors;
      }
      std::printf("    gradients of %d tensors compared, loss cuda %.9g cpu %.9g\n", tensors, rg.loss, rc.loss);
    });

    part(name + " three training steps", [&] {
      for (int s = 0; s < 3; ++s) {
        const BertStepResult rc = cpu.step(b.inputs(), b.labels.data(), nullptr);
        const BertStepResult rg = dev.step(b.inputs(), b.labels.data(), nullptr);
        std::printf("    step %d: loss cuda %.9g cpu %.9g, grad norm %.6g vs %.6g, correct %lld vs %lld\n", s, rg.loss,
                    rc.loss, rg.grad_norm, rc.grad_norm, (long long)rg.correct, (long long)rc.correct);
        CHECK_NEAR(rg.loss, rc.loss, 1e-4 * std::fabs(rc.loss) + 1e-6);
        CHECK_NEAR(rg.grad_norm, rc.grad_norm, 1e-3 * rc.grad_norm + 1e-7);
        CHECK(std::llabs(rg.correct - rc.correct) <= 1);  // a top-logit near-tie may go either way
        CHECK(rg.lr == rc.lr && rg.step == rc.step);
      }
      std::vector<float> pc(params.size()), pg(params.size());
      cpu.read_parameters(pc.data());
      dev.read_parameters(pg.data());
      expect_trained_parameters(pg, pc, tc.schedule.base_lr, 3);
    });
  }
}

}  // namespace
}  // namespace tf::test
