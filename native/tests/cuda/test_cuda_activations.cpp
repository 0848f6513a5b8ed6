// The activation store on the GPU against the CPU: its kernels (row gathers and means,
// column transforms) bit for bit, and a store resident on the device filled, compacted
// and transformed exactly as a CPU store given the same captured outputs. Runs with
// --device cuda only.
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "../../core/activations/activation_store.h"
#include "../../core/activations/activation_transform.h"
#include "cuda_compare.h"

namespace tf::test {
namespace {

TEST("cuda vs cpu: the activation store's kernels are bit-identical") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  const int64_t src_rows = 4000, cols = 384, stride = 400;
  auto src = random_vector(size_t(src_rows * stride), 81, -4.0f, 4.0f);
  for (size_t i = 0; i < src.size(); i += 97) src[i] = -0.0f;  // GELU's negative tail gives these: copied as they are
  std::mt19937 rng(82);
  std::vector<int32_t> offsets = {0}, indices;
  for (int s = 0; s < 900; ++s) {
    const int len = s % 7 == 0 ? 0 : s % 3 == 0 ? 1 + int(rng() % 200) : 1;
    for (int k = 0; k < len; ++k) indices.push_back(int32_t(rng() % src_rows));
    offsets.push_back(int32_t(indices.size()));
  }
  const int64_t segments = int64_t(offsets.size()) - 1;
  part("gather_mean_rows", [&] {
    std::vector<float> want(size_t(segments * cols));
    cpu_backend().gather_mean_rows(want.data(), src.data(), stride, cols, offsets.data(), indices.data(), segments);
    auto gsrc = upload_to(*gpu, src), goff = upload_to(*gpu, offsets), gind = upload_to(*gpu, indices);
    DeviceBuffer out(*gpu, want.size() * sizeof(float));
    gpu->gather_mean_rows(out.get<float>(), gsrc.get<float>(), stride, cols, goff.get<int32_t>(), gind.get<int32_t>(),
                          segments);
    expect_identical("gather_mean_rows", download_from<float>(out), want);
  });
  for (ActivationTransform t : {ActivationTransform::Std, ActivationTransform::Center, ActivationTransform::Norm}) {
    part(std::string("transform ") + activation_transform_name(t), [&] {
      for (int64_t rows : {2, 97, 20000}) {
        auto x = random_vector(size_t(rows * cols), uint32_t(83 + rows), -2.0f, 6.0f);
        auto gx = upload_to(*gpu, x);
        cpu_backend().activation_transform(x.data(), rows, cols, t);
        gpu->activation_transform(gx.get<float>(), rows, cols, t);
        expect_identical(std::string(activation_transform_name(t)) + " of " + std::to_string(rows) + " rows",
                         download_from<float>(gx), x);
      }
    });
  }
}

TEST("cuda vs cpu: a store on the GPU captures, keeps and transforms as a CPU store") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  // A 4x4 patch grid (17 tokens) and a padded text point, fed the same outputs on both.
  const std::vector<CapturePoint> points = {{"seq", 17, 48, true, 4, false}, {"text", 12, 40, false, 0, false, true}};
  const int64_t batch = 6;
  for (bool average : {false, true}) {
    part(average ? "averaged" : "window_2", [&] {
      ActivationStoreOptions o;
      o.capacity = 2 * batch;
      o.filter = average ? SequenceFilter::None : SequenceFilter::Window;
      o.window = 2;
      o.average_tokens = average;
      ActivationStore sc(points, o), sg(points, o, *gpu);
      for (int call = 0; call < 2; ++call) {
        const int64_t tokens = call == 0 ? 12 : 9;  // text batches of two lengths
        std::vector<uint8_t> mask(size_t(batch * tokens), 1);
        for (int64_t b = 0; b < batch; ++b)
          for (int64_t t = tokens - b % 4; t < tokens; ++t) mask[size_t(b * tokens + t)] = 0;  // trailing padding
        const auto seq = random_vector(size_t(batch * 17 * 50), uint32_t(90 + call));      // row stride 50
        const auto text = random_vector(size_t(batch * tokens * 40), uint32_t(92 + call));
        auto gseq = upload_to(*gpu, seq), gtext = upload_to(*gpu, text);
        for (ActivationStore* s : {&sc, &sg}) {
          const bool dev = s == &sg;
          s->token_mask(mask.data(), batch, tokens);
          s->capture(0, dev ? gseq.get<float>() : seq.data(), batch, 50);
          s->capture(1, dev ? gtext.get<float>() : text.data(), batch, 40);
          s->commit(batch, nullptr);
        }
      }
      std::vector<uint8_t> keep(size_t(2 * batch), 1);
      keep[2] = keep[7] = 0;
      sc.keep(keep.data(), 2 * batch);
      sg.keep(keep.data(), 2 * batch);
      sc.finalize(ActivationTransform::Std);
      sg.finalize(ActivationTransform::Std);
      for (size_t i = 0; i < sc.entry_count(); ++i) {
        std::vector<float> want(size_t(sc.rows(i) * sc.cols(i))), got(want.size());
        sc.copy_to_host(i, want.data());
        sg.copy_to_host(i, got.data());
        expect_identical(sc.entry(i).name, got, want);
      }
    });
  }
}

}  // namespace
}  // namespace tf::test
