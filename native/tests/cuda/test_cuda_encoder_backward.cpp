// The CUDA backend's encoder backward ops against the CPU backend on the same random
// inputs. Parameter gradients accumulate (+=) into non-zero buffers here, as they do
// across micro-batches. bias_backward, embeddings_backward and scatter_add_rows must be
// bit-identical (the CPU's float partials and float64 sums, in its order); the others
// agree within float32 rounding. Runs with --device cuda only.
#include <cmath>
#include <string>

#include "../../core/error.h"
#include "cuda_compare.h"

namespace tf::test {
namespace {

TEST("cuda vs cpu: layernorm backward (dinp accumulates, gains and biases summed over rows)") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  Backend& cpu = cpu_backend();
  for (int64_t rows : {1, 17, 65, 1000, 16640})
    for (int64_t cols : {1, 33, 192, 384}) {
      if (rows * cols > 4000000) continue;
      part("layernorm backward" + dims({rows, cols}), [&] {
        const size_t n = size_t(rows * cols);
        auto x = random_vector(n, uint32_t(rows + cols), -3.0f, 3.0f), w = random_vector(size_t(cols), 2),
             b = random_vector(size_t(cols), 3), dy = random_vector(n, 4);
        std::vector<float> out(n), mean(static_cast<size_t>(rows)), rstd(static_cast<size_t>(rows));
        cpu.layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), rows, cols, 1e-6f);
        auto dx0 = random_vector(n, 5), dw0 = random_vector(size_t(cols), 6), db0 = random_vector(size_t(cols), 7);
        std::vector<float> dx = dx0, dw = dw0, db = db0;
        cpu.layernorm_backward(dx.data(), dw.data(), db.data(), dy.data(), x.data(), mean.data(), rstd.data(), w.data(),
                               rows, cols);
        // The same forward statistics on both sides, so only the backward is compared.
        auto gx = upload_to(*gpu, x), gw = upload_to(*gpu, w), gdy = upload_to(*gpu, dy), gm = upload_to(*gpu, mean),
             gr = upload_to(*gpu, rstd), gdx = upload_to(*gpu, dx0), gdw = upload_to(*gpu, dw0),
             gdb = upload_to(*gpu, db0);
        gpu->layernorm_backward(gdx.get<float>(), gdw.get<float>(), gdb.get<float>(), gdy.get<float>(), gx.get<float>(),
                                gm.get<float>(), gr.get<float>(), gw.get<float>(), rows, cols);
        expect_close("dinp", download_from<float>(gdx), dx, 1e-5, 1e-5);
        // Sums over rows of float products: the bound grows with the rows summed.
        const double sum_tol = 2e-7 * std::sqrt(double(rows)) * 4.0;
        expect_close("dweight", download_from<float>(gdw), dw, sum_tol + 1e-6, 1e-5);
        expect_close("dbias", download_from<float>(gdb), db, 1e-6, 1e-6);
      });
    }
}

TEST("cuda vs cpu: attention backward, plain kernel, several shapes") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  Backend& cpu = cpu_backend();
  struct Shape { int64_t B, T, C, NH; };
  for (Shape s : {Shape{1, 1, 4, 1}, Shape{2, 17, 32, 2}, Shape{2, 65, 192, 3}, Shape{1, 65, 192, 6},
                  Shape{2, 9, 15, 3}, Shape{1, 50, 64, 4}, Shape{1, 197, 384, 6}, Shape{1, 33, 256, 1}}) {
    part("attention backward" + dims({s.B, s.T, s.C, s.NH}), [&] {
      const size_t nqkv = size_t(s.B * s.T * 3 * s.C), nout = size_t(s.B * s.T * s.C),
                   natt = size_t(s.B * s.NH * s.T * s.T);
      auto qkv = random_vector(nqkv, uint32_t(121 + s.T), -1.5f, 1.5f), dout = random_vector(nout, 122);
      std::vector<float> out(nout), att(natt), dqkv(nqkv);
      cpu.attention_forward(out.data(), att.data(), qkv.data(), s.B, s.T, s.C, s.NH, s.T);
      cpu.attention_backward(dqkv.data(), dout.data(), qkv.data(), att.data(), s.B, s.T, s.C, s.NH);
      // The CPU's probabilities on both sides: the backward alone is compared.
      auto gqkv = upload_to(*gpu, qkv), gdout = upload_to(*gpu, dout), gatt = upload_to(*gpu, att);
      std::vector<float> nan(nqkv, std::nanf(""));
      auto gd = upload_to(*gpu, nan);  // every entry must be overwritten
      gpu->attention_backward(gd.get<float>(), gdout.get<float>(), gqkv.get<float>(), gatt.get<float>(), s.B, s.T, s.C,
                              s.NH);
      expect_close("dqkv", download_from<float>(gd), dqkv, 3e-5, 1e-4);
    });
  }
}

TEST("cuda vs cpu: embeddings backward, bias backward and row scatter are bit-identical") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  Backend& cpu = cpu_backend();
  struct Shape { int64_t B, P, C; };
  for (Shape s : {Shape{1, 1, 1}, Shape{3, 4, 5}, Shape{64, 64, 192}, Shape{7, 49, 33}}) {
    part("embeddings backward" + dims({s.B, s.P, s.C}), [&] {
      const int64_t T = s.P + 1;
      auto de = random_vector(size_t(s.B * T * s.C), 131), cls0 = random_vector(size_t(s.C), 132),
           pos0 = random_vector(size_t(T * s.C), 133);
      std::vector<float> patch(size_t(s.B * s.P * s.C)), cls = cls0, pos = pos0;
      cpu.embeddings_backward(patch.data(), cls.data(), pos.data(), de.data(), s.B, s.P, s.C);
      auto gde = upload_to(*gpu, de), gcls = upload_to(*gpu, cls0), gpos = upload_to(*gpu, pos0);
      DeviceBuffer gpatch(*gpu, patch.size() * 4);
      gpu->embeddings_backward(gpatch.get<float>(), gcls.get<float>(), gpos.get<float>(), gde.get<float>(), s.B, s.P,
                               s.C);
      expect_identical("dpatch", download_from<float>(gpatch), patch);
      expect_identical("dcls", download_from<float>(gcls), cls);
      expect_identical("dpos", download_from<float>(gpos), pos);
    });
  }
  for (int64_t rows : {1, 63, 64, 65, 200, 16640})
    for (int64_t cols : {1, 37, 192, 1536}) {
      if (rows * cols > 8000000) continue;
      part("bias backward" + dims({rows, cols}), [&] {
        auto dy = random_vector(size_t(rows * cols), uint32_t(141 + rows), -2.0f, 2.0f), db0 = random_vector(size_t(cols), 142);
        std::vector<float> db = db0;
        cpu.bias_backward(db.data(), dy.data(), rows, cols);
        auto gdy = upload_to(*gpu, dy), gdb = upload_to(*gpu, db0);
        gpu->bias_backward(gdb.get<float>(), gdy.get<float>(), rows, cols);
        expect_identical("dbias", download_from<float>(gdb), db);
      });
    }
  part("scatter_add_rows", [&] {
    const int64_t rows = 64, cols = 192, stride = 65 * cols;
    auto dst0 = random_vector(size_t(rows * stride), 143), src = random_vector(size_t(rows * cols), 144);
    std::vector<float> dst = dst0;
    cpu.scatter_add_rows(dst.data(), src.data(), rows, cols, stride);
    auto gdst = upload_to(*gpu, dst0), gsrc = upload_to(*gpu, src);
    gpu->scatter_add_rows(gdst.get<float>(), gsrc.get<float>(), rows, cols, stride);
    expect_identical("scatter_add_rows", download_from<float>(gdst), dst);
  });
}

TEST("cuda vs cpu: cross entropy with label smoothing, losses and gradient") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  Backend& cpu = cpu_backend();
  for (int64_t rows : {1, 7, 256})
    for (int64_t classes : {2, 10, 1000})
      for (float e : {0.0f, 0.1f}) {
        part("cross entropy backward" + dims({rows, classes}) + " smoothing " + std::to_string(e), [&] {
          auto logits = random_vector(size_t(rows * classes), uint32_t(151 + classes), -6.0f, 6.0f);
          std::vector<int32_t> labels(static_cast<size_t>(rows));
          for (int64_t r = 0; r < rows; ++r) labels[size_t(r)] = int32_t((r * 3) % classes);
          const float scale = 1.0f / float(rows);
          std::vector<float> loss(static_cast<size_t>(rows)), grad(logits.size());
          cpu.cross_entropy_backward(grad.data(), loss.data(), logits.data(), labels.data(), rows, classes, e, scale);
          auto gl = upload_to(*gpu, logits), glab = upload_to(*gpu, labels);
          DeviceBuffer gloss(*gpu, loss.size() * 4), ggrad(*gpu, grad.size() * 4);
          gpu->cross_entropy_backward(ggrad.get<float>(), gloss.get<float>(), gl.get<float>(), glab.get<int32_t>(), rows,
                                      classes, e, scale);
          expect_close("losses", download_from<float>(gloss), loss, 1e-6, 1e-6);
          expect_close("dlogits", download_from<float>(ggrad), grad, 1e-9, 1e-6);
          labels[0] = int32_t(classes);
          glab.upload(labels.data());
          CHECK_THROWS(gpu->cross_entropy_backward(ggrad.get<float>(), gloss.get<float>(), gl.get<float>(),
                                                   glab.get<int32_t>(), rows, classes, e, scale));
        });
      }
}

}  // namespace
}  // namespace tf::test
