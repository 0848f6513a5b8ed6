// The CUDA backend's encoder forward ops against the CPU backend on the same random
// inputs, over shapes that are not multiples of any block size (1, 17, 65, 197 tokens;
// head widths 3, 5, 16, 32, 40, 64, 256). Bounds: "identical" where both sides do the
// same float operations in the same order (data movement, single adds), else float32
// rounding of the differently ordered sums. Runs with --device cuda only.
#include <cmath>
#include <string>

#include "../../core/cpu/kernels.h"
#include "../../core/cuda/encoder_kernels.h"
#include "../../core/cuda/kernels.cuh"
#include "../../core/error.h"
#include "cuda_compare.h"

namespace tf::test {
namespace {

std::string shape_name(const char* op, std::initializer_list<int64_t> dims) {
  std::string s = op;
  for (int64_t d : dims) s += " " + std::to_string(d);
  return s;
}

TEST("cuda vs cpu: layernorm forward, several shapes and a large mean") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  Backend& cpu = cpu_backend();
  for (int64_t rows : {1, 17, 65, 1000})
    for (int64_t cols : {1, 7, 33, 192, 384, 1000}) {
      part(shape_name("layernorm", {rows, cols}), [&] {
        auto x = random_vector(size_t(rows * cols), uint32_t(rows * 131 + cols), -2.0f, 2.0f);
        for (auto& v : x) v += 50.0f;
        auto w = random_vector(size_t(cols), 7), b = random_vector(size_t(cols), 8);
        std::vector<float> out(x.size()), mean(static_cast<size_t>(rows)), rstd(static_cast<size_t>(rows));
        cpu.layernorm_forward(out.data(), mean.data(), rstd.data(), x.data(), w.data(), b.data(), rows, cols, 1e-5f);
        auto dx = upload_to(*gpu, x), dw = upload_to(*gpu, w), db = upload_to(*gpu, b);
        DeviceBuffer dout(*gpu, x.size() * 4), dm(*gpu, size_t(rows) * 4), dr(*gpu, size_t(rows) * 4);
        gpu->layernorm_forward(dout.get<float>(), dm.get<float>(), dr.get<float>(), dx.get<float>(), dw.get<float>(),
                               db.get<float>(), rows, cols, 1e-5f);
        const std::string s = shape_name("", {rows, cols});
        // Both sides round the mean of values near 50 (ulp 4e-6); the output inherits it.
        expect_close("layernorm out" + s, download_from<float>(dout), out, 3e-5, 1e-5);
        expect_close("layernorm mean" + s, download_from<float>(dm), mean, 1e-5, 1e-6);
        expect_close("layernorm rstd" + s, download_from<float>(dr), rstd, 1e-6, 1e-4);
        // Null statistics are allowed (inference does not keep them).
        gpu->layernorm_forward(dout.get<float>(), nullptr, nullptr, dx.get<float>(), dw.get<float>(), db.get<float>(),
                               rows, cols, 1e-5f);
        expect_close("layernorm out, no stats" + s, download_from<float>(dout), out, 3e-5, 1e-5);
      });
    }
}

struct AttnShape {
  int64_t B, T, C, NH;
};

const AttnShape kAttnShapes[] = {
    {1, 1, 4, 1},     {2, 17, 32, 2},   {3, 65, 192, 3},  {2, 65, 192, 6}, {1, 17, 80, 2},
    {2, 9, 15, 3},    {2, 65, 12, 4},   {1, 197, 384, 6}, {1, 33, 256, 1}, {4, 50, 128, 1},
};

TEST("cuda vs cpu: attention forward, plain and tiled kernels and the dispatch") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  Backend& cpu = cpu_backend();
  cudaStream_t stream = cuda::backend_stream();
  for (const AttnShape& s : kAttnShapes) {
    const std::string name = shape_name("", {s.B, s.T, s.C, s.NH});
    part("attention" + name, [&] {
      const size_t nqkv = size_t(s.B * s.T * 3 * s.C), nout = size_t(s.B * s.T * s.C),
                   natt = size_t(s.B * s.NH * s.T * s.T);
      auto qkv = random_vector(nqkv, uint32_t(31 + s.T + s.C), -1.5f, 1.5f);
      std::vector<float> out(nout), att(natt);
      cpu.attention_forward(out.data(), att.data(), qkv.data(), s.B, s.T, s.C, s.NH, s.T);
      auto dqkv = upload_to(*gpu, qkv);
      DeviceBuffer dout(*gpu, nout * 4), datt(*gpu, natt * 4);

      cuda::attention_forward_plain(dout.get<float>(), datt.get<float>(), dqkv.get<float>(), nullptr, s.B, s.T, s.C,
                                    s.NH, s.T, stream);
      const auto plain_out = download_from<float>(dout), plain_att = download_from<float>(datt);
      expect_close("plain att" + name, plain_att, att, 2e-6, 1e-5);
      expect_close("plain out" + name, plain_out, out, 2e-5, 1e-5);

      if (cuda::attention_tiled_supported(s.T, s.C, s.NH)) {
        gpu->zero(dout.get<float>(), int64_t(nout));
        cuda::attention_forward_tiled(dout.get<float>(), datt.get<float>(), dqkv.get<float>(), nullptr, s.B, s.T, s.C,
                                      s.NH, s.T, stream);
        const auto tiled_out = download_from<float>(dout), tiled_att = download_from<float>(datt);
        expect_close("tiled att vs cpu" + name, tiled_att, att, 2e-6, 1e-5);
        expect_close("tiled out vs cpu" + name, tiled_out, out, 2e-5, 1e-5);
        expect_close("tiled att vs plain" + name, tiled_att, plain_att, 2e-6, 1e-5);
        expect_close("tiled out vs plain" + name, tiled_out, plain_out, 2e-5, 1e-5);
      } else {
        std::printf("    (tiled kernel does not apply to%s)\n", name.c_str());
      }

      // The dispatch, with only the first queries: those rows match, the rest untouched.
      const int64_t q = std::min<int64_t>(2, s.T);
      std::vector<float> nan(nout, std::nanf(""));
      auto dpart = upload_to(*gpu, nan);
      gpu->attention_forward(dpart.get<float>(), datt.get<float>(), dqkv.get<float>(), s.B, s.T, s.C, s.NH, q);
      const auto part_out = download_from<float>(dpart);
      std::vector<float> want(nout, std::nanf(""));
      for (int64_t b = 0; b < s.B; ++b)
        for (int64_t t = 0; t < q; ++t)
          for (int64_t c = 0; c < s.C; ++c) want[size_t((b * s.T + t) * s.C + c)] = out[size_t((b * s.T + t) * s.C + c)];
      expect_close("dispatch, first " + std::to_string(q) + " queries" + name, part_out, want, 2e-5, 1e-5);
    });
  }
}

TEST("cuda vs cpu: patch extraction and embedding assembly are bit-identical") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  Backend& cpu = cpu_backend();
  struct Shape { int64_t B, Cin, S, P, C; };
  for (Shape s : {Shape{2, 3, 32, 4, 192}, Shape{1, 1, 28, 7, 17}, Shape{3, 3, 12, 3, 7}, Shape{1, 2, 5, 5, 4}}) {
    part(shape_name("patches", {s.B, s.Cin, s.S, s.P, s.C}), [&] {
      const int64_t G = s.S / s.P, NP = G * G, PD = s.Cin * s.P * s.P;
      auto img = random_vector(size_t(s.B * s.Cin * s.S * s.S), 41);
      auto proj = random_vector(size_t(s.B * NP * s.C), 42), cls = random_vector(size_t(s.C), 43),
           pos = random_vector(size_t((NP + 1) * s.C), 44);
      std::vector<float> patches(size_t(s.B * NP * PD)), emb(size_t(s.B * (NP + 1) * s.C));
      cpu.patch_extract(patches.data(), img.data(), s.B, s.Cin, s.S, s.P);
      cpu.embeddings_assemble(emb.data(), proj.data(), cls.data(), pos.data(), s.B, NP, s.C);
      auto dimg = upload_to(*gpu, img), dproj = upload_to(*gpu, proj), dcls = upload_to(*gpu, cls),
           dpos = upload_to(*gpu, pos);
      DeviceBuffer dpatches(*gpu, patches.size() * 4), demb(*gpu, emb.size() * 4);
      gpu->patch_extract(dpatches.get<float>(), dimg.get<float>(), s.B, s.Cin, s.S, s.P);
      gpu->embeddings_assemble(demb.get<float>(), dproj.get<float>(), dcls.get<float>(), dpos.get<float>(), s.B, NP,
                               s.C);
      expect_identical("patch_extract", download_from<float>(dpatches), patches);
      expect_identical("embeddings_assemble", download_from<float>(demb), emb);
    });
  }
}

TEST("cuda vs cpu: bias, bias + GELU, bias + residual, scale and shift, row gather") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  Backend& cpu = cpu_backend();
  for (int64_t rows : {1, 13, 1040})
    for (int64_t cols : {1, 67, 192, 768}) {
      part(shape_name("bias ops", {rows, cols}), [&] {
        const size_t n = size_t(rows * cols);
        auto pre = random_vector(n, uint32_t(51 + cols), -7.0f, 7.0f), bias = random_vector(size_t(cols), 52),
             res = random_vector(n, 53);
        std::vector<float> cpre = pre, cact(n), cproj = pre, csum(n), cx = pre;
        cpu.bias_gelu_forward(cpre.data(), cact.data(), bias.data(), rows, cols);
        cpu.bias_residual_forward(csum.data(), cproj.data(), bias.data(), res.data(), rows, cols);
        cpu.add_bias(cx.data(), bias.data(), rows, cols);
        auto dpre = upload_to(*gpu, pre), dproj = upload_to(*gpu, pre), dx = upload_to(*gpu, pre),
             dbias = upload_to(*gpu, bias), dres = upload_to(*gpu, res);
        DeviceBuffer dact(*gpu, n * 4), dsum(*gpu, n * 4);
        gpu->bias_gelu_forward(dpre.get<float>(), dact.get<float>(), dbias.get<float>(), rows, cols);
        gpu->bias_residual_forward(dsum.get<float>(), dproj.get<float>(), dbias.get<float>(), dres.get<float>(), rows,
                                   cols);
        gpu->add_bias(dx.get<float>(), dbias.get<float>(), rows, cols);
        expect_identical("bias_gelu pre", download_from<float>(dpre), cpre);
        expect_close("bias_gelu out", download_from<float>(dact), cact, 1e-6, 1e-6);
        expect_identical("bias_residual proj", download_from<float>(dproj), cproj);
        expect_identical("bias_residual out", download_from<float>(dsum), csum);
        expect_identical("add_bias", download_from<float>(dx), cx);
        auto scale = random_vector(size_t(cols), 57, -2.0f, 2.0f);
        std::vector<float> cs = pre;
        cpu.scale_shift_columns(cs.data(), scale.data(), bias.data(), rows, cols);
        auto ds = upload_to(*gpu, pre), dscale = upload_to(*gpu, scale);
        gpu->scale_shift_columns(ds.get<float>(), dscale.get<float>(), dbias.get<float>(), rows, cols);
        expect_identical("scale_shift_columns", download_from<float>(ds), cs);
        // Gather every third row's first cols - 1 columns (CLS rows out of a sequence).
        if (rows >= 3 && cols >= 2) {
          const int64_t gr = rows / 3, gc = cols - 1, stride = 3 * cols;
          std::vector<float> g(size_t(gr * gc));
          cpu.gather_rows(g.data(), res.data(), gr, gc, stride);
          DeviceBuffer dg(*gpu, g.size() * 4);
          gpu->gather_rows(dg.get<float>(), dres.get<float>(), gr, gc, stride);
          expect_identical("gather_rows", download_from<float>(dg), g);
        }
      });
    }
}

TEST("cuda vs cpu: GELU forward and backward, axpby, dot") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  Backend& cpu = cpu_backend();
  for (int64_t n : {1, 1000, 1 << 20}) {
    part("elementwise " + std::to_string(n), [&] {
      auto x = random_vector(size_t(n), 61, -9.0f, 9.0f), dy = random_vector(size_t(n), 62), y = random_vector(size_t(n), 63);
      std::vector<float> out(static_cast<size_t>(n)), dx(static_cast<size_t>(n)), cy = y;
      cpu.gelu_forward(out.data(), x.data(), n);
      cpu.gelu_backward(dx.data(), x.data(), dy.data(), n);
      cpu.axpby(cy.data(), x.data(), 0.75f, -1.25f, n);
      const double cdot = cpu.dot(x.data(), y.data(), n);
      auto dxin = upload_to(*gpu, x), ddy = upload_to(*gpu, dy), dyv = upload_to(*gpu, y);
      DeviceBuffer dout(*gpu, size_t(n) * 4), ddx(*gpu, size_t(n) * 4);
      gpu->gelu_forward(dout.get<float>(), dxin.get<float>(), n);
      gpu->gelu_backward(ddx.get<float>(), dxin.get<float>(), ddy.get<float>(), n);
      const double gdot = gpu->dot(dxin.get<float>(), dyv.get<float>(), n);
      gpu->axpby(dyv.get<float>(), dxin.get<float>(), 0.75f, -1.25f, n);
      expect_close("gelu forward", download_from<float>(dout), out, 1e-6, 1e-6);
      expect_close("gelu backward", download_from<float>(ddx), dx, 2e-6, 1e-5);
      expect_close("axpby", download_from<float>(dyv), cy, 1e-6, 1e-6);
      std::printf("    dot: cuda %.17g, cpu %.17g\n", gdot, cdot);
      CHECK_NEAR(gdot, cdot, 1e-12 * (1.0 + std::fabs(cdot)) + 1e-9 * std::sqrt(double(n)));
    });
  }
}

TEST("cuda vs cpu: cross entropy forward, and a bad label is refused with the cpu's message") {
  Backend* gpu = cuda_under_test();
  if (!gpu) return;
  Backend& cpu = cpu_backend();
  for (int64_t rows : {1, 9, 256})
    for (int64_t classes : {1, 10, 100, 1000}) {
      part(shape_name("cross entropy", {rows, classes}), [&] {
        auto logits = random_vector(size_t(rows * classes), uint32_t(71 + classes), -30.0f, 30.0f);
        std::vector<int32_t> labels(static_cast<size_t>(rows));
        for (int64_t r = 0; r < rows; ++r) labels[size_t(r)] = int32_t((r * 7) % classes);
        std::vector<float> loss(static_cast<size_t>(rows));
        cpu.cross_entropy_forward(loss.data(), logits.data(), labels.data(), rows, classes);
        auto dl = upload_to(*gpu, logits), dlab = upload_to(*gpu, labels);
        DeviceBuffer dloss(*gpu, size_t(rows) * 4);
        gpu->cross_entropy_forward(dloss.get<float>(), dl.get<float>(), dlab.get<int32_t>(), rows, classes);
        expect_close("losses", download_from<float>(dloss), loss, 1e-6, 1e-6);
        if (rows >= 2) {
          labels[size_t(rows / 2)] = int32_t(classes);
          labels[size_t(rows - 1)] = -1;
          dlab.upload(labels.data());
          std::string cpu_msg, gpu_msg;
          try {
            cpu.cross_entropy_forward(loss.data(), logits.data(), labels.data(), rows, classes);
          } catch (const Error& e) {
            cpu_msg = e.what();
          }
          try {
            gpu->cross_entropy_forward(dloss.get<float>(), dl.get<float>(), dlab.get<int32_t>(), rows, classes);
          } catch (const Error& e) {
            gpu_msg = e.what();
          }
          if (gpu_msg != cpu_msg || cpu_msg.empty())
            record_failure(__FILE__, __LINE__, "label error: cuda '" + gpu_msg + "', cpu '" + cpu_msg + "'");
        }
      });
    }
}

}  // namespace
}  // namespace tf::test
