// The CUDA backend's text encoder (BERT) ops against the CPU backend on the same random
// inputs, with padding. Runs with --device cuda only.
//
// Bounds (cuda/text_kernels.h says why):
//   token embeddings forward and backward, indexed gathers and scatters, argmax:
//     bit-identical (repeated ids and indices included; gradients accumulate into
//     non-zero buffers, as across micro-batches);
//   masked attention: probabilities within 2e-6 (+ 1e-5 relative) and exactly 0 on
//     padded keys, outputs within 2e-5 (+ 1e-5 relative), as the unmasked kernel;
//   tanh and its backward: within 2e-7 (+ 1e-6 relative);
//   cross-entropy losses: within 1e-6 (+ 1e-6 relative), NaN where the label is -100.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>
#include <vector>

#include "../../core/cuda/encoder_kernels.h"
#include "../../core/cuda/kernels.cuh"
#include "../../core/error.h"
#include "cuda_compare.h"

namespace tf::test {
namespace {

// Right padding of varying length (sample b keeps tokens - 3b, at least one) plus a hole
// inside sample 1 when it is long enough: a general key mask, not only a prefix.
std::vector<uint8_t> key_mask(int64_t batch, int64_t tokens) {
  std::vector<uint8_t> m(size_t(batch * tokens), 1);
  for (int64_t b = 0; b < batch; ++b) {
    const int64_t real = std::max<int64_t>(1, tokens - 3 * b);
    for (int64_t t = real; t < tokens; ++t) m[size_t(b * tokens + t)] = 0;
  }
  if (batch > 1 && tokens > 4) m[size_t(tokens + 2)] = 0;
  return m;
}

// Ids drawn from a few values, so that rows repeat (the scatters' hard case).
std::vector<int32_t> repeating_ids(int64_t n, int64_t distinct, uint32_t seed) {
  const auto u = random_vector(size_t(n), seed, 0.0f, 1.0f);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) ids[size_t(i)] = std::min(int32_t(distinct - 1), int32_t(u[size_t(i)] * float(distinct)));
  return ids;
}

TEST("cuda vs cpu: token embeddings forward and backward, repeated ids, with and without type ids") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  Backend& cpu = cpu_backend();
  struct Shape { int64_t B, T, C, V; };
  for (Shape s : {Shape{1, 1, 1, 1}, Shape{3, 7, 33, 11}, Shape{16, 64, 128, 500}, Shape{32, 128, 96, 3000}}) {
    for (bool typed : {true, false}) {
      part("token embeddings" + dims({s.B, s.T, s.C, s.V}) + (typed ? " typed" : " untyped"), [&] {
        const int64_t R = s.B * s.T, TV = 2;
        auto word = random_vector(size_t(s.V * s.C), 1), pos = random_vector(size_t(s.T * s.C), 2),
             type = random_vector(size_t(TV * s.C), 3), dout = random_vector(size_t(R * s.C), 4);
        const auto ids = repeating_ids(R, s.V, 5), types = repeating_ids(R, TV, 6);
        const int32_t* cpu_types = typed ? types.data() : nullptr;
        std::vector<float> out(size_t(R * s.C));
        cpu.token_embeddings_forward(out.data(), ids.data(), cpu_types, word.data(), pos.data(), type.data(), s.B, s.T,
                                     s.C);
        auto gword = upload_to(*gpu, word), gpos = upload_to(*gpu, pos), gtype = upload_to(*gpu, type),
             gdout = upload_to(*gpu, dout);
        auto gids = upload_to(*gpu, ids), gtypes = upload_to(*gpu, types);
        const int32_t* gpu_types = typed ? gtypes.get<int32_t>() : nullptr;
        DeviceBuffer gout(*gpu, out.size() * sizeof(float));
        gpu->token_embeddings_forward(gout.get<float>(), gids.get<int32_t>(), gpu_types, gword.get<float>(),
                                      gpos.get<float>(), gtype.get<float>(), s.B, s.T, s.C);
        expect_identical("forward", download_from<float>(gout), out);

        // Gradients add into the tables' existing values (here: the tables themselves).
        cpu.token_embeddings_backward(word.data(), pos.data(), type.data(), dout.data(), ids.data(), cpu_types, s.B,
                                      s.T, s.C);
        gpu->token_embeddings_backward(gword.get<float>(), gpos.get<float>(), gtype.get<float>(), gdout.get<float>(),
                                       gids.get<int32_t>(), gpu_types, s.B, s.T, s.C);
        expect_identical("dword", download_from<float>(gword), word);
        expect_identical("dposition", download_from<float>(gpos), pos);
        expect_identical("dtype", download_from<float>(gtype), type);
      });
    }
  }
}

TEST("cuda vs cpu: masked attention (padding, exact zeros, plain and tiled kernels) and its backward") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  Backend& cpu = cpu_backend();
  cudaStream_t stream = cuda::backend_stream();
  struct Shape { int64_t B, T, C, NH; };
  // Head widths 4 to 160 (over 128: the plain kernel only), up to 200 tokens.
  for (Shape s : {Shape{1, 1, 4, 1}, Shape{3, 9, 12, 3}, Shape{4, 33, 64, 2}, Shape{8, 128, 768, 12},
                  Shape{2, 200, 256, 4}, Shape{3, 40, 160, 1}}) {
    for (int64_t queries : {s.T, int64_t(1)}) {
      part("masked attention" + dims({s.B, s.T, s.C, s.NH, queries}), [&] {
        const size_t nqkv = size_t(s.B * s.T * 3 * s.C), nout = size_t(s.B * s.T * s.C),
                     natt = size_t(s.B * s.NH * s.T * s.T);
        const auto qkv = random_vector(nqkv, uint32_t(11 + s.T), -1.5f, 1.5f);
        const auto mask = key_mask(s.B, s.T);
        // Rows past `queries` are not written: start both from the same zeros.
        std::vector<float> out(nout, 0.0f), att(natt, 0.0f);
        cpu.attention_masked_forward(out.data(), att.data(), qkv.data(), mask.data(), s.B, s.T, s.C, s.NH, queries);
        auto gqkv = upload_to(*gpu, qkv), gmask = upload_to(*gpu, mask), gout = upload_to(*gpu, out),
             gatt = upload_to(*gpu, att);
        gpu->attention_masked_forward(gout.get<float>(), gatt.get<float>(), gqkv.get<float>(), gmask.get<uint8_t>(), s.B,
                                      s.T, s.C, s.NH, queries);
        const auto dev_att = download_from<float>(gatt), dev_out = download_from<float>(gout);
        expect_close("att", dev_att, att, 2e-6, 1e-5);
        expect_close("out", dev_out, out, 2e-5, 1e-5);
        size_t nonzero_padded = 0;
        for (size_t i = 0; i < natt; ++i) {
          const int64_t key = int64_t(i) % s.T, b = int64_t(i) / (s.NH * s.T * s.T);
          nonzero_padded += !mask[size_t(b * s.T + key)] && dev_att[i] != 0.0f;
        }
        if (nonzero_padded) record_failure(__FILE__, __LINE__, "padded keys with a non-zero probability on the GPU");

        // The plain kernel (the tiled one's reference) must agree as well.
        gpu->zero(gout.get<float>(), int64_t(nout));
        cuda::attention_forward_plain(gout.get<float>(), gatt.get<float>(), gqkv.get<float>(), gmask.get<uint8_t>(),
                                      s.B, s.T, s.C, s.NH, queries, stream);
        expect_close("plain kernel att", download_from<float>(gatt), att, 2e-6, 1e-5);
        expect_close("plain kernel out", download_from<float>(gout), out, 2e-5, 1e-5);
        if (queries != s.T) return;

        // The backward takes no mask: padded keys get no gradient through their zeros.
        const auto dout = random_vector(nout, 12);
        std::vector<float> dqkv(nqkv);
        cpu.attention_backward(dqkv.data(), dout.data(), qkv.data(), att.data(), s.B, s.T, s.C, s.NH);
        auto gdout = upload_to(*gpu, dout), gcatt = upload_to(*gpu, att);
        DeviceBuffer gdqkv(*gpu, nqkv * sizeof(float));
        gpu->attention_backward(gdqkv.get<float>(), gdout.get<float>(), gqkv.get<float>(), gcatt.get<float>(), s.B, s.T,
                                s.C, s.NH);
        expect_close("backward dqkv", download_from<float>(gdqkv), dqkv, 2e-5, 1e-4);
      });
    }
  }
  part("a sample with no real token", [&] {
    const int64_t B = 3, T = 4, C = 8;
    const auto qkv = random_vector(size_t(B * T * 3 * C), 13);
    const std::vector<uint8_t> mask = {1, 1, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0};
    auto gqkv = upload_to(*gpu, qkv), gmask = upload_to(*gpu, mask);
    DeviceBuffer gout(*gpu, size_t(B * T * C) * sizeof(float)), gatt(*gpu, size_t(B * 2 * T * T) * sizeof(float));
    std::string message;
    try {
      gpu->attention_masked_forward(gout.get<float>(), gatt.get<float>(), gqkv.get<float>(), gmask.get<uint8_t>(), B, T,
                                    C, 2, T);
    } catch (const Error& e) {
      message = e.what();
    }
    std::printf("    refused: %s\n", message.c_str());
    CHECK(message.find("sample 1 has no real token") != std::string::npos);
  });
}

TEST("cuda vs cpu: pooler tanh and its backward, indexed row gathers and scatters with repeats") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  Backend& cpu = cpu_backend();
  for (int64_t rows : {1, 7, 64, 1000})
    for (int64_t cols : {1, 33, 768}) {
      part("tanh" + dims({rows, cols}), [&] {
        const size_t n = size_t(rows * cols);
        auto pre = random_vector(n, 21, -4.0f, 4.0f);
        const auto bias = random_vector(size_t(cols), 22), dout = random_vector(n, 23);
        auto gpre = upload_to(*gpu, pre), gbias = upload_to(*gpu, bias), gdout = upload_to(*gpu, dout);
        std::vector<float> out(n), dpre(n);
        cpu.bias_tanh_forward(pre.data(), out.data(), bias.data(), rows, cols);
        DeviceBuffer gout(*gpu, n * sizeof(float));
        gpu->bias_tanh_forward(gpre.get<float>(), gout.get<float>(), gbias.get<float>(), rows, cols);
        expect_identical("pre + bias", download_from<float>(gpre), pre);
        expect_close("tanh", download_from<float>(gout), out, 2e-7, 1e-6);
        // From the CPU's output on both sides, in place as the pooler's backward runs it.
        cpu.tanh_backward(dpre.data(), out.data(), dout.data(), int64_t(n));
        auto gcout = upload_to(*gpu, out);
        gpu->tanh_backward(gdout.get<float>(), gcout.get<float>(), gdout.get<float>(), int64_t(n));
        expect_close("tanh backward", download_from<float>(gdout), dpre, 2e-7, 1e-6);
      });
    }
  struct Shape { int64_t rows, cols, table; };
  for (Shape s : {Shape{1, 1, 1}, Shape{5, 21, 9}, Shape{300, 64, 40}, Shape{5000, 96, 7}, Shape{20000, 128, 20000}}) {
    part("indexed rows" + dims({s.rows, s.cols, s.table}), [&] {
      const auto table = random_vector(size_t(s.table * s.cols), 31), src = random_vector(size_t(s.rows * s.cols), 32);
      const auto index = repeating_ids(s.rows, s.table, 33);
      std::vector<float> gathered(src.size()), scattered = table;
      cpu.gather_rows_indexed(gathered.data(), table.data(), index.data(), s.rows, s.cols);
      cpu.scatter_add_rows_indexed(scattered.data(), src.data(), index.data(), s.rows, s.cols);
      auto gtable = upload_to(*gpu, table), gsrc = upload_to(*gpu, src), gindex = upload_to(*gpu, index);
      DeviceBuffer ggathered(*gpu, gathered.size() * sizeof(float));
      gpu->gather_rows_indexed(ggathered.get<float>(), gtable.get<float>(), gindex.get<int32_t>(), s.rows, s.cols);
      expect_identical("gather", download_from<float>(ggathered), gathered);
      gpu->scatter_add_rows_indexed(gtable.get<float>(), gsrc.get<float>(), gindex.get<int32_t>(), s.rows, s.cols);
      expect_identical("scatter-add", download_from<float>(gtable), scattered);
    });
  }
}

TEST("cuda vs cpu: softmax cross-entropy with argmax (vocabulary rows, ties, ignored and bad labels)") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  Backend& cpu = cpu_backend();
  for (int64_t classes : {1, 3, 1031, 30522}) {
    part("softmax cross-entropy, classes " + std::to_string(classes), [&] {
      const int64_t rows = 37;
      auto logits = random_vector(size_t(rows * classes), uint32_t(41 + classes), -9.0f, 9.0f);
      // Ties for the top logit: the first index wins on both.
      for (int64_t r = 0; r < rows; r += 3) {
        logits[size_t(r * classes + classes - 1)] = 20.0f;
        logits[size_t(r * classes + classes / 2)] = 20.0f;
      }
      std::vector<int32_t> labels(static_cast<size_t>(rows));
      for (int64_t r = 0; r < rows; ++r) labels[size_t(r)] = r % 4 == 1 ? kIgnoreLabel : int32_t((r * 13) % classes);
      std::vector<float> losses(static_cast<size_t>(rows));
      std::vector<int32_t> predictions(static_cast<size_t>(rows)), only_predictions(static_cast<size_t>(rows));
      cpu.softmax_cross_entropy_forward(losses.data(), predictions.data(), logits.data(), labels.data(), rows, classes);
      cpu.softmax_cross_entropy_forward(nullptr, only_predictions.data(), logits.data(), nullptr, rows, classes);
      auto glogits = upload_to(*gpu, logits), glabels = upload_to(*gpu, labels);
      DeviceBuffer glosses(*gpu, losses.size() * sizeof(float)), gpred(*gpu, predictions.size() * sizeof(int32_t));
      gpu->softmax_cross_entropy_forward(glosses.get<float>(), gpred.get<int32_t>(), glogits.get<float>(),
                                         glabels.get<int32_t>(), rows, classes);
      expect_close("losses", download_from<float>(glosses), losses, 1e-6, 1e-6);
      expect_identical("predictions", download_from<int32_t>(gpred), predictions);
      gpu->softmax_cross_entropy_forward(nullptr, gpred.get<int32_t>(), glogits.get<float>(), nullptr, rows, classes);
      expect_identical("predictions without labels", download_from<int32_t>(gpred), only_predictions);

      labels[3] = int32_t(classes);
      auto gbad = upload_to(*gpu, labels);
      std::string message;
      try {
        gpu->softmax_cross_entropy_forward(glosses.get<float>(), gpred.get<int32_t>(), glogits.get<float>(),
                                           gbad.get<int32_t>(), rows, classes);
      } catch (const Error& e) {
        message = e.what();
      }
      CHECK(message.find("label " + std::to_string(classes) + " of row 3 is outside") != std::string::npos);
    });
  }
}

}  // namespace
}  // namespace tf::test
