// The encoder forward kernels (LayerNorm, attention, patch embedding, fused bias ops,
// cross-entropy, and the vectorised exp/GELU under them) against float64 references.
// On a backend that has no twin of an op yet, the test says so and passes.
#include <cmath>
#include <cstdio>
#include <string>

#include "../core/cpu/simd.h"
#include "../core/error.h"
#include "backend_checks.h"
#include "check.h"
#include "test_device.h"

namespace tf::test {
namespace {

std::vector<double> layernorm_ref(const std::vector<float>& x, const std::vector<float>& w,
                                  const std::vector<float>& b, int64_t rows, int64_t cols, double eps,
                                  std::vector<double>* means, std::vector<double>* rstds) {
  std::vector<double> out(x.size());
  for (int64_t r = 0; r < rows; ++r) {
    double m = 0, v = 0;
    for (int64_t c = 0; c < cols; ++c) m += x[r * cols + c];
    m /= double(cols);
    for (int64_t c = 0; c < cols; ++c) v += (x[r * cols + c] - m) * (x[r * cols + c] - m);
    v /= double(cols);
    const double s = 1.0 / std::sqrt(v + eps);
    for (int64_t c = 0; c < cols; ++c) out[r * cols + c] = (x[r * cols + c] - m) * s * w[c] + b[c];
    means->push_back(m);
    rstds->push_back(s);
  }
  return out;
}

TEST("layernorm forward against float64, several widths and an offset mean") {
  Backend& be = device_backend();
  for (int64_t cols : {1, 7, 8, 33, 384}) {
    const int64_t rows = 37;
    auto x = random_vector(size_t(rows * cols), 21 + uint32_t(cols), -2.0f, 2.0f);
    for (auto& v : x) v += 50.0f;  // a large mean must not eat the variance
    auto w = random_vector(size_t(cols), 22), b = random_vector(size_t(cols), 23);
    auto dx = to_device(be, x), dw = to_device(be, w), db = to_device(be, b);
    DeviceBuffer dout(be, x.size() * sizeof(float)), dm(be, rows * sizeof(float)), dr(be, rows * sizeof(float));
    if (!runs_on_backend([&] {
          be.layernorm_forward(dout.get<float>(), dm.get<float>(), dr.get<float>(), dx.get<float>(), dw.get<float>(),
                               db.get<float>(), rows, cols, 1e-5f);
        }))
      return;
    std::vector<double> means, rstds;
    auto ref = layernorm_ref(x, w, b, rows, cols, 1e-5, &means, &rstds);
    auto out = to_host(dout), m = to_host(dm), r = to_host(dr);
    for (size_t i = 0; i < ref.size(); ++i) CHECK_NEAR(out[i], ref[i], 2e-4);
    for (int64_t i = 0; i < rows; ++i) {
      CHECK_NEAR(m[i], means[i], 1e-4);
      CHECK_NEAR(r[i], rstds[i], 1e-3 * rstds[i]);
    }
  }
}

TEST("attention forward against float64 softmax(QK^T/sqrt d)V, several shapes") {
  Backend& be = device_backend();
  struct Shape { int64_t B, T, C, NH; };
  for (Shape s : {Shape{1, 1, 4, 1}, Shape{2, 5, 12, 3}, Shape{3, 17, 32, 2}, Shape{2, 65, 64, 2}, Shape{1, 9, 80, 2}}) {
    auto qkv = random_vector(size_t(s.B * s.T * 3 * s.C), 31 + uint32_t(s.T), -2.0f, 2.0f);
    auto dqkv = to_device(be, qkv);
    DeviceBuffer dout(be, size_t(s.B * s.T * s.C) * sizeof(float)),
        datt(be, size_t(s.B * s.NH * s.T * s.T) * sizeof(float));
    if (!runs_on_backend([&] {
          be.attention_forward(dout.get<float>(), datt.get<float>(), dqkv.get<float>(), s.B, s.T, s.C, s.NH, s.T);
        }))
      return;
    auto out = to_host(dout), att = to_host(datt);
    const int64_t hd = s.C / s.NH;
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t h = 0; h < s.NH; ++h)
        for (int64_t i = 0; i < s.T; ++i) {
          std::vector<double> p(size_t(s.T));
          double mx = -1e300, sum = 0;
          for (int64_t j = 0; j < s.T; ++j) {
            double d = 0;
            for (int64_t k = 0; k < hd; ++k)
              d += double(qkv[(b * s.T + i) * 3 * s.C + h * hd + k]) *
                   double(qkv[(b * s.T + j) * 3 * s.C + s.C + h * hd + k]);
            p[j] = d / std::sqrt(double(hd));
            mx = std::max(mx, p[j]);
          }
          for (auto& v : p) sum += (v = std::exp(v - mx));
          for (int64_t j = 0; j < s.T; ++j) {
            p[j] /= sum;
            CHECK_NEAR(att[((b * s.NH + h) * s.T + i) * s.T + j], p[j], 1e-6);
          }
          for (int64_t k = 0; k < hd; ++k) {
            double o = 0;
            for (int64_t j = 0; j < s.T; ++j) o += p[j] * qkv[(b * s.T + j) * 3 * s.C + 2 * s.C + h * hd + k];
            CHECK_NEAR(out[(b * s.T + i) * s.C + h * hd + k], o, 1e-5);
          }
        }
    // Queries limited to the first token(s): those rows agree, the others stay untouched.
    const int64_t q = std::min<int64_t>(2, s.T);
    std::vector<float> nan(size_t(s.B * s.T * s.C), std::nanf(""));
    auto dpart = to_device(be, nan);
    be.attention_forward(dpart.get<float>(), datt.get<float>(), dqkv.get<float>(), s.B, s.T, s.C, s.NH, q);
    auto part = to_host(dpart);
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t t = 0; t < s.T; ++t)
        for (int64_t c = 0; c < s.C; ++c) {
          const size_t i = size_t((b * s.T + t) * s.C + c);
          if (t < q) CHECK(part[i] == out[i]);
          else CHECK(std::isnan(part[i]));
        }
  }
}

TEST("patch extraction + GEMM equals a direct float64 convolution with stride = kernel") {
  Backend& be = device_backend();
  struct Shape { int64_t B, Cin, S, P, C; };
  for (Shape s : {Shape{2, 3, 8, 4, 5}, Shape{1, 1, 6, 2, 3}, Shape{3, 3, 12, 3, 7}, Shape{1, 2, 5, 5, 4}}) {
    const int64_t G = s.S / s.P, NP = G * G, PD = s.Cin * s.P * s.P;
    auto img = random_vector(size_t(s.B * s.Cin * s.S * s.S), 41 + uint32_t(s.S));
    auto w = random_vector(size_t(s.C * PD), 42), bias = random_vector(size_t(s.C), 43);
    auto cls = random_vector(size_t(s.C), 44), pos = random_vector(size_t((NP + 1) * s.C), 45);
    auto dimg = to_device(be, img), dw = to_device(be, w), dbias = to_device(be, bias), dcls = to_device(be, cls),
         dpos = to_device(be, pos);
    DeviceBuffer dpatch(be, size_t(s.B * NP * PD) * sizeof(float)), dproj(be, size_t(s.B * NP * s.C) * sizeof(float)),
        demb(be, size_t(s.B * (NP + 1) * s.C) * sizeof(float));
    if (!runs_on_backend([&] {
          be.patch_extract(dpatch.get<float>(), dimg.get<float>(), s.B, s.Cin, s.S, s.P);
          be.gemm(false, true, s.B * NP, s.C, PD, 1.0f, dpatch.get<float>(), PD, dw.get<float>(), PD, 0.0f,
                  dproj.get<float>(), s.C);
          be.add_bias(dproj.get<float>(), dbias.get<float>(), s.B * NP, s.C);
          be.embeddings_assemble(demb.get<float>(), dproj.get<float>(), dcls.get<float>(), dpos.get<float>(), s.B,
                                 NP, s.C);
        }))
      return;
    auto proj = to_host(dproj), emb = to_host(demb);
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t gy = 0; gy < G; ++gy)
        for (int64_t gx = 0; gx < G; ++gx)
          for (int64_t o = 0; o < s.C; ++o) {
            double acc = bias[o];
            for (int64_t c = 0; c < s.Cin; ++c)
              for (int64_t y = 0; y < s.P; ++y)
                for (int64_t x = 0; x < s.P; ++x)
                  acc += double(w[((o * s.Cin + c) * s.P + y) * s.P + x]) *
                         img[((b * s.Cin + c) * s.S + gy * s.P + y) * s.S + gx * s.P + x];
            const int64_t p = gy * G + gx;
            CHECK_NEAR(proj[(b * NP + p) * s.C + o], acc, 1e-5);
            CHECK_NEAR(emb[(b * (NP + 1) + 1 + p) * s.C + o], acc + pos[(1 + p) * s.C + o], 1e-5);
          }
    for (int64_t b = 0; b < s.B; ++b)
      for (int64_t o = 0; o < s.C; ++o) CHECK_NEAR(emb[b * (NP + 1) * s.C + o], double(cls[o]) + pos[o], 1e-6);
  }
}

TEST("bias + GELU and bias + residual against float64") {
  Backend& be = device_backend();
  const int64_t rows = 13, cols = 67;
  auto pre = random_vector(size_t(rows * cols), 51, -7.0f, 7.0f), bias = random_vector(size_t(cols), 52);
  auto res = random_vector(size_t(rows * cols), 53);
  auto dpre = to_device(be, pre), dbias = to_device(be, bias), dres = to_device(be, res);
  DeviceBuffer dact(be, pre.size() * sizeof(float));
  auto dproj = to_device(be, pre);
  DeviceBuffer dsum(be, pre.size() * sizeof(float));
  if (!runs_on_backend([&] {
        be.bias_gelu_forward(dpre.get<float>(), dact.get<float>(), dbias.get<float>(), rows, cols);
        be.bias_residual_forward(dsum.get<float>(), dproj.get<float>(), dbias.get<float>(), dres.get<float>(), rows,
                                 cols);
      }))
    return;
  auto p = to_host(dpre), a = to_host(dact), proj = to_host(dproj), sum = to_host(dsum);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const size_t i = size_t(r * cols + c);
      const double x = double(pre[i]) + bias[c];
      CHECK_NEAR(p[i], x, 1e-6);
      CHECK_NEAR(a[i], 0.5 * x * (1.0 + std::erf(x / std::sqrt(2.0))), 3e-7 * (1.0 + std::fabs(x)));
      CHECK_NEAR(proj[i], x, 1e-6);
      CHECK_NEAR(sum[i], x + res[i], 1e-6);
    }
}

TEST("scale and shift per column against float64 (one rounding)") {
  Backend& be = device_backend();
  const int64_t rows = 11, cols = 37;
  auto x = random_vector(size_t(rows * cols), 54, -5.0f, 5.0f), scale = random_vector(size_t(cols), 55, -2.0f, 2.0f);
  auto shift = random_vector(size_t(cols), 56, -3.0f, 3.0f);
  auto dx = to_device(be, x), dscale = to_device(be, scale), dshift = to_device(be, shift);
  if (!runs_on_backend([&] { be.scale_shift_columns(dx.get<float>(), dscale.get<float>(), dshift.get<float>(), rows, cols); }))
    return;
  auto y = to_host(dx);
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) {
      const size_t i = size_t(r * cols + c);
      // A fused multiply-add: the float64 value rounded once.
      CHECK(y[i] == float(double(x[i]) * scale[c] + shift[c]));
    }
}

TEST("vectorised exp and GELU over their whole range") {
  using namespace tf::cpu::simd;
  double worst_exp = 0;
  for (double x = -87.0; x <= 88.0; x += 0.0137) {
    const double rel = std::fabs(exp1(float(x)) - std::exp(double(float(x)))) / std::exp(double(float(x)));
    worst_exp = std::max(worst_exp, rel);
  }
  CHECK(worst_exp < 3e-7);
  CHECK(exp1(-1000.0f) >= 0.0f && exp1(-1000.0f) < 1e-37f);
  CHECK(std::isfinite(exp1(1000.0f)));
  for (double x = -12.0; x <= 12.0; x += 0.001) {
    const double ref = 0.5 * double(float(x)) * (1.0 + std::erf(double(float(x)) / std::sqrt(2.0)));
    CHECK_NEAR(gelu1(float(x)), ref, 2e-7 * (1.0 + std::fabs(x)));
  }
}

TEST("cross entropy against float64 and a bad label is refused") {
  Backend& be = device_backend();
  const int64_t rows = 9, classes = 11;
  auto logits = random_vector(size_t(rows * classes), 61, -30.0f, 30.0f);
  std::vector<int32_t> labels(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) labels[r] = int32_t((r * 7) % classes);
  auto dl = to_device(be, logits);
  DeviceBuffer dlab(be, labels.size() * sizeof(int32_t)), dloss(be, size_t(rows) * sizeof(float));
  dlab.upload(labels.data());
  if (!runs_on_backend([&] {
        be.cross_entropy_forward(dloss.get<float>(), dl.get<float>(), dlab.get<int32_t>(), rows, classes);
      }))
    return;
  auto loss = to_host(dloss);
  for (int64_t r = 0; r < rows; ++r) {
    double m = -1e300, s = 0;
    for (int64_t c = 0; c < classes; ++c) m = std::max(m, double(logits[r * classes + c]));
    for (int64_t c = 0; c < classes; ++c) s += std::exp(logits[r * classes + c] - m);
    CHECK_NEAR(loss[r], m + std::log(s) - logits[r * classes + labels[r]], 1e-5);
  }
  labels[3] = int32_t(classes);
  dlab.upload(labels.data());
  CHECK_THROWS(be.cross_entropy_forward(dloss.get<float>(), dl.get<float>(), dlab.get<int32_t>(), rows, classes));
}

}  // namespace
}  // namespace tf::test
