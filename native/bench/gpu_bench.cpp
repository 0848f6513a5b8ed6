// tf_gpu_bench: the native core's GPU benchmarks against its own CPU backend, for
// bench/gpu/run.sh. Needs no Node. Measures
//   - GEMM GFLOP/s: our tiled float32 kernel, our TF32 and BF16 tensor-core kernels,
//     cuBLAS (float32, TF32, BF16) when it loads, and the CPU backend's GEMM;
//   - ViT forward images/s (7 layers, 65 tokens, hidden 192 and 384, batch 64 and 256);
//   - a ViT training step (forward + backward + AdamW, batch 128);
//   - BERT masked-LM forward sequences/s with losses (BERT-base's shape and the bundled
//     models' shape; full-length and right-padded batches);
//   - log-domain Sinkhorn at n = 1024 and 4096 (and a batch of small problems), GPU vs
//     the CPU Sinkhorn, on the same costs with the same stopping rule.
// Every result is one row of a table printed as it is measured and written to <out>/native.json
// (rewritten after each group of benchmarks).
// Without a usable GPU it says so, writes a JSON that records why, and exits 0.
//
//   tf_gpu_bench [--out DIR] [--quick]      (--quick: small sizes, for a smoke test)
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <exception>
#include <functional>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "core/backend.h"
#include "core/cpu/blas_threads.h"
#include "core/ot/ot.h"
#include "core/thread_pool.h"
#include "core/bert/bert_model.h"
#include "core/train/vit_trainer.h"
#include "core/vit/vit_model.h"
#ifdef TF_WITH_CUDA
#include "core/cuda/kernels.cuh"
#include "core/cuda/ot_cuda.h"
#endif

namespace {

using namespace tf;
using Clock = std::chrono::steady_clock;

struct Row {
  std::string group, name, device, impl;
  double value = 0;
  std::string unit;
  std::string note;
};

std::vector<Row> rows;

void add(const std::string& group, const std::string& name, const std::string& device, const std::string& impl,
         double value, const std::string& unit, const std::string& note = "") {
  rows.push_back({group, name, device, impl, value, unit, note});
  std::printf("  %-10s %-34s %-5s %-16s %12.4g %-10s %s\n", group.c_str(), name.c_str(), device.c_str(), impl.c_str(),
              value, unit.c_str(), note.c_str());
  std::fflush(stdout);
}

std::string json_escape(const std::string& s) {
  std::string o;
  for (char c : s) {
    if (c == '"' || c == '\\') o += '\\';
    if (c == '\n') { o += "\\n"; continue; }
    o += c;
  }
  return o;
}

std::vector<float> randoms(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng);
  return v;
}

// Seconds per call: `warmup` calls, then repeats until `min_seconds` have passed (at
// least `min_reps`); `fn` must finish its work (synchronise) before returning.
double time_it(const std::function<void()>& fn, int warmup, int min_reps, double min_seconds, int max_reps = 1000) {
  for (int i = 0; i < warmup; ++i) fn();
  int reps = 0;
  const auto t0 = Clock::now();
  double elapsed = 0;
  while (reps < max_reps && (reps < min_reps || elapsed < min_seconds)) {
    fn();
    ++reps;
    elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  }
  return elapsed / reps;
}

// --- GEMM ---------------------------------------------------------------------------------

struct GemmShape {
  const char* label;
  int64_t m, n, k;
  bool tb;
};

#ifdef TF_WITH_CUDA
// Runs `body` once per GEMM precision the GPU offers (float32 always; TF32 and BF16 on
// tensor cores, sm_80 and newer) with the backend's GEMM set to it; `impl` names the run.
void for_each_precision(const std::function<void(const std::string& impl)>& body) {
  using cuda::GemmPrecision;
  const GemmPrecision saved = cuda::gemm_precision();
  for (GemmPrecision p : {GemmPrecision::Fp32, GemmPrecision::Tf32, GemmPrecision::Bf16}) {
    if (p != GemmPrecision::Fp32 && !cuda::tensor_cores_supported()) continue;
    cuda::set_gemm_precision(p);
    body(std::string("ours ") + (p == GemmPrecision::Fp32 ? "f32" : cuda::gemm_precision_name(p)));
  }
  cuda::set_gemm_precision(saved);
}
#endif

void bench_gemm(Backend* gpu, bool quick) {
  std::vector<GemmShape> shapes = {
      {"1024^3", 1024, 1024, 1024, false},
      {"4096^3", 4096, 4096, 4096, false},
      {"ViT QKV 16640x1152x384 (B=256)", 16640, 1152, 384, true},
      {"ViT MLP 16640x1536x384 (B=256)", 16640, 1536, 384, true},
  };
  if (quick) shapes = {{"256^3", 256, 256, 256, false}};
  for (const GemmShape& s : shapes) {
    const int64_t a_cols = s.k, b_rows = s.tb ? s.n : s.k, b_cols = s.tb ? s.k : s.n;
    auto a = randoms(size_t(s.m * a_cols), 1), b = randoms(size_t(b_rows * b_cols), 2);
    std::vector<float> c(size_t(s.m * s.n));
    const double flops = 2.0 * double(s.m) * double(s.n) * double(s.k);
    Backend& cpu = cpu_backend();
    const double t_cpu = time_it([&] { cpu.gemm(false, s.tb, s.m, s.n, s.k, 1.0f, a.data(), a_cols, b.data(), b_cols,
                                                0.0f, c.data(), s.n); },
                                 1, 2, 0.5, quick ? 3 : 20);
    add("gemm", s.label, "cpu", blas_linked() ? "BLAS" : "blocked", flops / t_cpu / 1e9, "GFLOP/s");
#ifdef TF_WITH_CUDA
    if (!gpu) continue;
    DeviceBuffer da(*gpu, a.size() * 4), db(*gpu, b.size() * 4), dc(*gpu, c.size() * 4);
    da.upload(a.data());
    db.upload(b.data());
    cudaStream_t st = cuda::backend_stream();
    auto run = [&](const char* impl, const std::function<void()>& launch) {
      const double t = time_it([&] { launch(); gpu->synchronize(); }, 2, 5, 0.3);
      add("gemm", s.label, "cuda", impl, flops / t / 1e9, "GFLOP/s");
    };
    run("tiled f32", [&] {
      cuda::gemm_tiled(false, s.tb, s.m, s.n, s.k, 1.0f, da.get<float>(), a_cols, db.get<float>(), b_cols, 0.0f,
                       dc.get<float>(), s.n, st);
    });
    using cuda::GemmPrecision;
    if (cuda::tensor_cores_supported())
      for (GemmPrecision p : {GemmPrecision::Tf32, GemmPrecision::Bf16})
        run(p == GemmPrecision::Tf32 ? "tf32 wmma" : "bf16 wmma", [&] {
          cuda::gemm_tensor_cores(p, false, s.tb, s.m, s.n, s.k, 1.0f, da.get<float>(), a_cols, db.get<float>(), b_cols,
                                  0.0f, dc.get<float>(), s.n, st);
        });
    const cuda::GemmPath saved = cuda::gemm_path();
    const GemmPrecision saved_precision = cuda::gemm_precision();
    cuda::set_gemm_path(cuda::GemmPath::Auto);
    const bool have_cublas = cuda::gemm_description().find("cuBLAS") != std::string::npos;
    if (have_cublas) {
      cuda::set_gemm_path(cuda::GemmPath::Cublas);
      for (GemmPrecision p : {GemmPrecision::Fp32, GemmPrecision::Tf32, GemmPrecision::Bf16}) {
        cuda::set_gemm_precision(p);
        run(p == GemmPrecision::Fp32 ? "cublas f32" : p == GemmPrecision::Tf32 ? "cublas tf32" : "cublas bf16", [&] {
          gpu->gemm(false, s.tb, s.m, s.n, s.k, 1.0f, da.get<float>(), a_cols, db.get<float>(), b_cols, 0.0f,
                    dc.get<float>(), s.n);
        });
      }
    }
    cuda::set_gemm_path(saved);
    cuda::set_gemm_precision(saved_precision);
#else
    (void)gpu;
#endif
  }
}

// --- ViT ----------------------------------------------------------------------------------

VitConfig vit(int64_t hidden) {
  VitConfig c;
  c.image_size = 32;
  c.patch_size = 4;  // 64 patches + CLS = 65 tokens
  c.num_channels = 3;
  c.hidden_size = hidden;
  c.num_layers = 7;
  c.num_heads = hidden / 64;
  c.intermediate_size = 4 * hidden;
  c.num_labels = 10;
  c.layer_norm_eps = 1e-12f;
  return c;
}

// Weight matrices with variance 1/fan_in, LayerNorm gains 1, small biases and
// embeddings, for any model's layout.
std::vector<float> model_params(const std::vector<ParamTensor>& tensors, int64_t total) {
  std::vector<float> p(static_cast<size_t>(total));
  uint32_t seed = 10;
  for (const ParamTensor& t : tensors) {
    const bool matrix = t.shape.size() >= 2 && t.name.find(".weight") != std::string::npos;
    const bool gain = !matrix && t.name.find("ln") != std::string::npos && t.name.find(".weight") != std::string::npos;
    int64_t fan_in = 1;
    for (size_t d = 1; d < t.shape.size(); ++d) fan_in *= t.shape[d];
    auto v = randoms(size_t(t.size), seed++, -1.0f, 1.0f);
    const float a = matrix ? std::sqrt(3.0f / float(fan_in)) : 0.02f;
    for (int64_t i = 0; i < t.size; ++i) p[size_t(t.offset + i)] = gain ? 1.0f : a * v[size_t(i)];
  }
  return p;
}

void bench_vit(Backend* gpu, bool quick) {
  const std::vector<int64_t> hiddens = quick ? std::vector<int64_t>{64} : std::vector<int64_t>{192, 384};
  const std::vector<int64_t> batches = quick ? std::vector<int64_t>{8} : std::vector<int64_t>{64, 256};
  for (int64_t h : hiddens) {
    VitConfig c = vit(h);
    if (quick) c.num_layers = 2;
    const VitParamLayout layout(c);
    const auto params = model_params(layout.tensors(), layout.total());
    const std::string shape = "h" + std::to_string(h) + " L" + std::to_string(c.num_layers);
    for (int64_t batch : batches) {
      const auto images = randoms(size_t(batch * c.image_floats()), 3, -2.0f, 2.0f);
      std::vector<float> logits(size_t(batch * c.num_labels));
      const std::string name = shape + " forward B=" + std::to_string(batch);
      {
        VitModel m(c, cpu_backend(), params.data(), int64_t(params.size()));
        const double t = time_it([&] { m.forward(images.data(), batch, logits.data(), nullptr, nullptr, nullptr); }, 1,
                                 1, 0.5, quick ? 2 : 3);
        add("vit", name, "cpu", "ours", double(batch) / t, "images/s");
      }
#ifdef TF_WITH_CUDA
      if (!gpu) continue;
      VitModel m(c, *gpu, params.data(), int64_t(params.size()));
      m.set_micro_batch(batch);
      for_each_precision([&](const std::string& impl) {
        const double t = time_it([&] { m.forward(images.data(), batch, logits.data(), nullptr, nullptr, nullptr); }, 2,
                                 5, 0.5);
        add("vit", name, "cuda", impl, double(batch) / t, "images/s", cuda::gemm_description());
      });
#endif
    }
    // Training step: forward + backward + AdamW on one batch.
    const int64_t tb = quick ? 8 : 128;
    const auto images = randoms(size_t(tb * c.image_floats()), 4, -2.0f, 2.0f);
    std::vector<int32_t> labels(static_cast<size_t>(tb));
    for (int64_t i = 0; i < tb; ++i) labels[size_t(i)] = int32_t(i % c.num_labels);
    TrainerConfig tc;
    tc.schedule.total_steps = 1000;
    tc.weight_decay = 0.05;
    const std::string name = shape + " train step B=" + std::to_string(tb);
    {
      const int64_t micro = std::min<int64_t>(tb, 32);
      VitTrainer t(c, cpu_backend(), params.data(), int64_t(params.size()), tb, micro);
      t.configure(tc);
      const double s = time_it([&] { t.step(images.data(), labels.data(), tb, nullptr); }, 1, 1, 0.5, 2);
      add("train", name, "cpu", "ours", s * 1e3, "ms/step", "micro-batch " + std::to_string(micro));
    }
#ifdef TF_WITH_CUDA
    if (!gpu) continue;
    for_each_precision([&](const std::string& impl) {
      VitTrainer t(c, *gpu, params.data(), int64_t(params.size()), tb, tb);
      t.configure(tc);
      const double s = time_it([&] { t.step(images.data(), labels.data(), tb, nullptr); gpu->synchronize(); }, 2, 5, 0.5);
      add("train", name, "cuda", impl, s * 1e3, "ms/step");
    });
#endif
  }
}

// --- BERT ---------------------------------------------------------------------------------

struct BertShape {
  int64_t hidden, layers, heads, vocab, batch, tokens;
};

// A masked-LM evaluation batch: random ids, about 15% of the real tokens labelled, token
// type 0. Padded: sample b keeps tokens - (7 b mod tokens / 2) real tokens, a spread of
// lengths down to half the sequence.
struct BertBenchBatch {
  std::vector<int32_t> ids, types, labels;
  std::vector<uint8_t> mask;
  BertInputs inputs;
};

BertBenchBatch bert_batch(const BertShape& s, bool padded) {
  const int64_t R = s.batch * s.tokens;
  BertBenchBatch b;
  b.ids.assign(size_t(R), 0);
  b.types.assign(size_t(R), 0);
  b.labels.assign(size_t(R), kIgnoreLabel);
  b.mask.assign(size_t(R), 0);
  std::mt19937 rng(uint32_t(R) + (padded ? 1u : 0u));
  for (int64_t q = 0; q < s.batch; ++q) {
    const int64_t real = padded ? s.tokens - (q * 7) % (s.tokens / 2) : s.tokens;
    for (int64_t t = 0; t < real; ++t) {
      const size_t r = size_t(q * s.tokens + t);
      b.ids[r] = int32_t(rng() % uint32_t(s.vocab));
      b.mask[r] = 1;
      if (rng() % 100 < 15) b.labels[r] = int32_t(rng() % uint32_t(s.vocab));
    }
  }
  b.inputs.ids = b.ids.data();
  b.inputs.type_ids = b.types.data();
  b.inputs.mask = b.mask.data();
  b.inputs.count = s.batch;
  b.inputs.tokens = s.tokens;
  return b;
}

// Masked-LM forward with the labelled tokens' losses, as `otfuse eval` and the fusion's
// loss filter run it: BERT-base's shape, and the shape of the models in models/fortunes.
void bench_bert(Backend* gpu, bool quick) {
  std::vector<BertShape> shapes = {{768, 12, 12, 30522, 32, 128}, {96, 2, 4, 2048, 256, 64}};
  if (quick) shapes = {{64, 2, 2, 500, 8, 32}};
  for (const BertShape& s : shapes) {
    BertConfig c;
    c.vocab_size = s.vocab;
    c.hidden_size = s.hidden;
    c.num_layers = s.layers;
    c.num_heads = s.heads;
    c.intermediate_size = 4 * s.hidden;
    c.max_positions = std::max<int64_t>(s.tokens, 64);
    const BertParamLayout layout(c);
    const auto params = model_params(layout.tensors(), layout.total());
    for (bool padded : {false, true}) {
      const BertBenchBatch b = bert_batch(s, padded);
      std::vector<float> losses(b.labels.size());
      BertOutputs out;
      out.losses = losses.data();
      const std::string name = "h" + std::to_string(s.hidden) + " L" + std::to_string(s.layers) + " mlm B" +
                               std::to_string(s.batch) + " T" + std::to_string(s.tokens) + (padded ? " padded" : " full");
      {
        BertModel m(c, cpu_backend(), params.data(), layout.total());
        const double t = time_it([&] { m.forward(b.inputs, b.labels.data(), out, nullptr); }, 1, 1, 0.5, quick ? 2 : 3);
        add("bert", name, "cpu", "ours", double(s.batch) / t, "seq/s", "losses of the labelled tokens");
      }
#ifdef TF_WITH_CUDA
      if (!gpu) continue;
      BertModel m(c, *gpu, params.data(), layout.total());
      m.set_micro_batch(s.batch);
      for_each_precision([&](const std::string& impl) {
        const double t = time_it([&] { m.forward(b.inputs, b.labels.data(), out, nullptr); }, 2, 5, 0.5);
        add("bert", name, "cuda", impl, double(s.batch) / t, "seq/s", cuda::gemm_description());
      });
#else
      (void)gpu;
#endif
    }
  }
}

// --- Sinkhorn -----------------------------------------------------------------------------

// A cost shaped like the fusion's: squared distances between the neurons of two
// "models", the second a noisy permutation of the first (16 features each), divided by
// the largest entry. Unlike uniform random costs (a near-uniform plan in ~20
// iterations), Sinkhorn then needs hundreds of iterations, as it does when fusing.
std::vector<double> fusion_like_cost(int64_t n, uint64_t seed) {
  const int64_t d = 16;
  std::mt19937_64 rng{seed};
  std::normal_distribution<double> g(0.0, 1.0);
  std::vector<double> x(size_t(n * d)), y(size_t(n * d)), cost(size_t(n * n));
  for (auto& v : x) v = g(rng);
  std::vector<int64_t> perm(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) perm[size_t(i)] = i;
  std::shuffle(perm.begin(), perm.end(), rng);
  for (int64_t i = 0; i < n; ++i)
    for (int64_t k = 0; k < d; ++k) y[size_t(i * d + k)] = x[size_t(perm[size_t(i)] * d + k)] + 0.3 * g(rng);
  double mx = 0;
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t k = 0; k < d; ++k) {
        const double t = x[size_t(i * d + k)] - y[size_t(j * d + k)];
        s += t * t;
      }
      cost[size_t(i * n + j)] = s;
      mx = std::max(mx, s);
    }
  for (auto& c : cost) c /= mx;
  return cost;
}

void bench_sinkhorn(Backend* gpu, bool quick) {
  const std::vector<int64_t> sizes = quick ? std::vector<int64_t>{128} : std::vector<int64_t>{1024, 4096};
  const double reg = 0.01;  // on costs in [0, 1], as the fusion's normalised costs
  for (int64_t n : sizes) {
    const std::vector<double> cost = fusion_like_cost(n, uint64_t(n));
    std::vector<double> a(size_t(n), 1.0 / double(n)), b(size_t(n), 1.0 / double(n));
    ot::SinkhornOptions o;
    o.reg = reg;  // POT's defaults otherwise: 1000 iterations at most, tol 1e-9 checked every 10
    std::vector<double> plan(cost.size());
    const std::string name = "n=" + std::to_string(n) + " reg " + std::to_string(reg).substr(0, 4);
    ot::SinkhornResult rc;
    const double t_cpu = time_it([&] { rc = ot::sinkhorn(a.data(), b.data(), cost.data(), n, n, o, plan.data()); }, 0,
                                 1, 0.0, 1);
    add("sinkhorn", name, "cpu", "ours scaling", t_cpu * 1e3, "ms", std::to_string(rc.iterations) + " iterations");
    if (n <= 1024 || quick) {
      ot::SinkhornOptions ol = o;
      ol.method = ot::SinkhornMethod::LogSumExp;
      ot::SinkhornResult rl;
      const double t = time_it([&] { rl = ot::sinkhorn(a.data(), b.data(), cost.data(), n, n, ol, plan.data()); }, 0,
                               1, 0.0, 1);
      add("sinkhorn", name, "cpu", "ours logsumexp", t * 1e3, "ms", std::to_string(rl.iterations) + " iterations");
    }
#ifdef TF_WITH_CUDA
    if (!gpu) continue;
    DeviceBuffer da(*gpu, a.size() * 8), db(*gpu, b.size() * 8), dc(*gpu, cost.size() * 8), dp(*gpu, cost.size() * 8),
        df(*gpu, cost.size() * 4);
    da.upload(a.data());
    db.upload(b.data());
    dc.upload(cost.data());
    std::vector<float> fcost(cost.begin(), cost.end());
    df.upload(fcost.data());
    ot::SinkhornResult rg;
    const double t64 = time_it([&] {
      rg = cuda::ot::sinkhorn(da.get<double>(), db.get<double>(), dc.get<double>(), n, n, o, dp.get<double>());
    }, 1, 3, 0.5, 20);
    add("sinkhorn", name, "cuda", "ours f64 cost", t64 * 1e3, "ms", std::to_string(rg.iterations) + " iterations");
    const double t32 = time_it([&] {
      rg = cuda::ot::sinkhorn(da.get<double>(), db.get<double>(), df.get<float>(), n, n, o, dp.get<double>());
    }, 1, 3, 0.5, 20);
    add("sinkhorn", name, "cuda", "ours f32 cost", t32 * 1e3, "ms", std::to_string(rg.iterations) + " iterations");
    // The float32 kernel mode (SinkhornOptions::gpu_float_kernel): no exp per entry and pass.
    ot::SinkhornOptions ok = o;
    ok.gpu_float_kernel = true;
    const double tk = time_it([&] {
      rg = cuda::ot::sinkhorn(da.get<double>(), db.get<double>(), dc.get<double>(), n, n, ok, dp.get<double>());
    }, 1, 3, 0.5, 20);
    add("sinkhorn", name, "cuda", "ours f32 kernel", tk * 1e3, "ms",
        std::to_string(rg.iterations) + " iterations, " + std::to_string(rg.absorptions) + " kernels built");
    {
      std::vector<double> kplan(plan.size());
      dp.download(kplan.data());
      const auto rk = ot::sinkhorn(a.data(), b.data(), cost.data(), n, n, o, plan.data());
      double diff = 0, mx = 0;
      for (size_t i = 0; i < plan.size(); ++i) {
        diff = std::max(diff, std::fabs(kplan[i] - plan[i]));
        mx = std::max(mx, std::fabs(plan[i]));
      }
      add("sinkhorn", name, "cuda", "f32 kernel plan vs cpu", diff / mx, "max rel",
          "marginal error " + std::to_string(rg.marginal_error) + " (cpu " + std::to_string(rk.marginal_error) + ")");
    }
    // The plan against the CPU's, as a sanity check next to the timing.
    std::vector<double> gplan(plan.size());
    rc = ot::sinkhorn(a.data(), b.data(), cost.data(), n, n, o, plan.data());
    cuda::ot::sinkhorn(da.get<double>(), db.get<double>(), dc.get<double>(), n, n, o, dp.get<double>());
    dp.download(gplan.data());
    double diff = 0, mx = 0;
    for (size_t i = 0; i < plan.size(); ++i) {
      diff = std::max(diff, std::fabs(gplan[i] - plan[i]));
      mx = std::max(mx, std::fabs(plan[i]));
    }
    add("sinkhorn", name, "cuda", "plan vs cpu", diff / mx, "max rel", "f64 cost; the tests' bound is 1e-6");
#else
    (void)gpu;
#endif
  }
  // A batch of small problems: one per attention head, say.
  const int64_t batch = quick ? 2 : 32, n = quick ? 64 : 384;
  std::vector<double> cost, a(size_t(batch * n), 1.0 / double(n));
  for (int64_t p = 0; p < batch; ++p) {
    const auto c = fusion_like_cost(n, uint64_t(100 + p));
    cost.insert(cost.end(), c.begin(), c.end());
  }
  std::vector<double> plan(cost.size());
  ot::SinkhornOptions o;
  o.reg = reg;
  const std::string name = std::to_string(batch) + " x n=" + std::to_string(n);
  const double t_cpu = time_it([&] {
    for (int64_t p = 0; p < batch; ++p)
      ot::sinkhorn(a.data() + p * n, a.data() + p * n, cost.data() + p * n * n, n, n, o, plan.data() + p * n * n);
  }, 0, 1, 0.0, 1);
  add("sinkhorn", name, "cpu", "ours, one by one", t_cpu * 1e3, "ms");
#ifdef TF_WITH_CUDA
  if (!gpu) return;
  DeviceBuffer da(*gpu, a.size() * 8), dc(*gpu, cost.size() * 8), dp(*gpu, cost.size() * 8);
  da.upload(a.data());
  dc.upload(cost.data());
  const double t = time_it([&] {
    cuda::ot::sinkhorn_batched(da.get<double>(), da.get<double>(), dc.get<double>(), batch, n, n, o, dp.get<double>());
  }, 1, 3, 0.3, 20);
  add("sinkhorn", name, "cuda", "ours batched", t * 1e3, "ms");
#endif
}

}  // namespace

// Every row so far, with the machine, as <out>/native.json (rewritten whole each time).
bool write_json(const std::string& json_path, const GpuInfo& g, Backend* gpu, double seconds) {
  FILE* f = std::fopen(json_path.c_str(), "w");
  if (!f) {
    std::fprintf(stderr, "cannot write %s\n", json_path.c_str());
    return false;
  }
  std::fprintf(f, "{\n  \"cpu\": \"%s\",\n  \"threads\": %d,\n", json_escape(cpu_backend().describe()).c_str(),
               num_threads());
  if (gpu)
    std::fprintf(f,
                 "  \"gpu\": {\"name\": \"%s\", \"computeCapability\": \"%d.%d\", \"memoryBytes\": %llu, "
                 "\"describe\": \"%s\"},\n",
                 json_escape(g.name).c_str(), g.compute_major, g.compute_minor, (unsigned long long)g.memory_bytes,
                 json_escape(gpu->describe()).c_str());
  else
    std::fprintf(f, "  \"gpu\": null,\n");
  std::fprintf(f, "  \"seconds\": %.3f,\n  \"rows\": [\n", seconds);
  for (size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    std::fprintf(f,
                 "    {\"group\": \"%s\", \"case\": \"%s\", \"device\": \"%s\", \"impl\": \"%s\", \"value\": %.6g, "
                 "\"unit\": \"%s\", \"note\": \"%s\"}%s\n",
                 json_escape(r.group).c_str(), json_escape(r.name).c_str(), r.device.c_str(),
                 json_escape(r.impl).c_str(), r.value, json_escape(r.unit).c_str(), json_escape(r.note).c_str(),
                 i + 1 < rows.size() ? "," : "");
  }
  std::fprintf(f, "  ]\n}\n");
  std::fclose(f);
  return true;
}

int main(int argc, char** argv) {
  std::string out_dir = "gpu-results";
  bool quick = false, cpu_only_ok = false;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--out") == 0 && i + 1 < argc) out_dir = argv[++i];
    else if (std::strcmp(argv[i], "--quick") == 0) quick = true;
    else if (std::strcmp(argv[i], "--cpu") == 0) cpu_only_ok = true;
    else {
      std::fprintf(stderr, "usage: tf_gpu_bench [--out DIR] [--quick] [--cpu]\n");
      return 2;
    }
  }
  mkdir(out_dir.c_str(), 0755);
  const std::string json_path = out_dir + "/native.json";
  const GpuInfo g = cuda_device_info();
  Backend* gpu = cuda_available() ? &cuda_backend() : nullptr;
  std::printf("cpu:  %s\n", cpu_backend().describe().c_str());
  if (gpu) {
    std::printf("gpu:  %s\n", gpu->describe().c_str());
  } else {
    std::printf("no GPU: %s\n", cuda_unavailable_reason().c_str());
    if (!cpu_only_ok) {
      FILE* f = std::fopen(json_path.c_str(), "w");
      if (f) {
        std::fprintf(f, "{\"gpu\": null, \"reason\": \"%s\", \"cpu\": \"%s\", \"rows\": []}\n",
                     json_escape(cuda_unavailable_reason()).c_str(), json_escape(cpu_backend().describe()).c_str());
        std::fclose(f);
      }
      std::printf("nothing to benchmark on a GPU; wrote %s (--cpu runs the CPU side anyway)\n", json_path.c_str());
      return 0;
    }
  }
  std::printf("  %-10s %-34s %-5s %-16s %12s %-10s %s\n", "group", "case", "dev", "impl", "value", "unit", "note");
  const auto t0 = Clock::now();
  const std::pair<const char*, void (*)(Backend*, bool)> groups[] = {
      {"gemm", bench_gemm}, {"vit", bench_vit}, {"bert", bench_bert}, {"sinkhorn", bench_sinkhorn}};
  int failed = 0;
  for (const auto& [name, run] : groups) {
    // A group that fails (a CUDA error on a first run) is recorded and the others still
    // run; the JSON is rewritten after every group, so a run stopped by a timeout keeps
    // what it measured.
    try {
      run(gpu, quick);
    } catch (const std::exception& e) {
      ++failed;
      std::printf("  %s failed: %s\n", name, e.what());
      add("error", name, gpu ? "cuda" : "cpu", "-", 0.0, "", e.what());
    }
    if (!write_json(json_path, g, gpu, std::chrono::duration<double>(Clock::now() - t0).count())) return 1;
  }
  std::printf("benchmarks took %.1f s%s; wrote %s\n", std::chrono::duration<double>(Clock::now() - t0).count(),
              failed ? " (some groups failed)" : "", json_path.c_str());
  return failed ? 1 : 0;
}
