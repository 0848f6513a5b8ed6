// The text encoder's kernels (token embeddings, attention with padded keys, bias + tanh,
// indexed row gathers, softmax cross-entropy with argmax) against float64 references.
// On a backend that has no twin of an op yet, the test says so and passes.
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>

#include "../core/error.h"
#include "backend_checks.h"
#include "check.h"
#include "test_device.h"

namespace tf::test {
namespace {

template <typename T>
DeviceBuffer ints_to_device(Backend& be, const std::vector<T>& host) {
  DeviceBuffer buf(be, std::max<size_t>(1, host.size() * sizeof(T)));
  if (!host.empty()) be.copy_from_host(buf.get(), host.data(), host.size() * sizeof(T));
  return buf;
}

template <typename T>
std::vector<T> ints_to_host(Backend& be, const DeviceBuffer& buf, size_t n) {
  std::vector<T> host(n);
  be.copy_to_host(host.data(), buf.get(), n * sizeof(T));
  return host;
}

TEST("token embeddings: word + position + token type rows, with and without type ids") {
  Backend& be = device_backend();
  const int64_t B = 3, T = 5, C = 11, V = 17, P = 7, TV = 3;
  auto word = random_vector(size_t(V * C), 61), pos = random_vector(size_t(P * C), 62),
       type = random_vector(size_t(TV * C), 63);
  std::vector<int32_t> ids(size_t(B * T)), types(size_t(B * T));
  for (int64_t r = 0; r < B * T; ++r) ids[size_t(r)] = int32_t((r * 7 + 3) % V), types[size_t(r)] = int32_t(r % TV);
  auto dword = to_device(be, word), dpos = to_device(be, pos), dtype = to_device(be, type);
  auto dids = ints_to_device(be, ids), dtypes = ints_to_device(be, types);
  DeviceBuffer dout(be, size_t(B * T * C) * sizeof(float)), dplain(be, size_t(B * T * C) * sizeof(float));
  if (!runs_on_backend([&] {
        be.token_embeddings_forward(dout.get<float>(), dids.get<int32_t>(), dtypes.get<int32_t>(), dword.get<float>(),
                                    dpos.get<float>(), dtype.get<float>(), B, T, C);
        be.token_embeddings_forward(dplain.get<float>(), dids.get<int32_t>(), nullptr, dword.get<float>(),
                                    dpos.get<float>(), dtype.get<float>(), B, T, C);
      }))
    return;
  auto out = to_host(dout), plain = to_host(dplain);
  for (int64_t r = 0; r < B * T; ++r)
    for (int64_t c = 0; c < C; ++c) {
      const double base = double(word[size_t(ids[size_t(r)] * C + c)]) + pos[size_t((r % T) * C + c)];
      CHECK_NEAR(out[size_t(r * C + c)], base + type[size_t(types[size_t(r)] * C + c)], 1e-6);
      CHECK_NEAR(plain[size_t(r * C + c)], base + type[size_t(c)], 1e-6);
    }
}

// softmax(Q Kᵀ / sqrt d) V over the real keys of each sample, in float64.
void masked_attention_ref(const std::vector<float>& qkv, const std::vector<uint8_t>& mask, int64_t B, int64_t T,
                          int64_t C, int64_t NH, std::vector<double>& out, std::vector<double>& att) {
  const int64_t hd = C / NH;
  out.assign(size_t(B * T * C), 0.0);
  att.assign(size_t(B * NH * T * T), 0.0);
  for (int64_t b = 0; b < B; ++b)
    for (int64_t h = 0; h < NH; ++h)
      for (int64_t i = 0; i < T; ++i) {
        std::vector<double> p(size_t(T), 0.0);
        double mx = -1e300, sum = 0;
        for (int64_t j = 0; j < T; ++j) {
          if (!mask[size_t(b * T + j)]) continue;
          double d = 0;
          for (int64_t k = 0; k < hd; ++k)
            d += double(qkv[size_t((b * T + i) * 3 * C + h * hd + k)]) * qkv[size_t((b * T + j) * 3 * C + C + h * hd + k)];
          p[size_t(j)] = d / std::sqrt(double(hd));
          mx = std::max(mx, p[size_t(j)]);
        }
        for (int64_t j = 0; j < T; ++j)
          if (mask[size_t(b * T + j)]) sum += (p[size_t(j)] = std::exp(p[size_t(j)] - mx));
        for (int64_t j = 0; j < T; ++j) {
          const double pj = mask[size_t(b * T + j)] ? p[size_t(j)] / sum : 0.0;
          att[size_t(((b * NH + h) * T + i) * T + j)] = pj;
          for (int64_t k = 0; k < hd; ++k)
            out[size_t((b * T + i) * C + h * hd + k)] += pj * qkv[size_t((b * T + j) * 3 * C + 2 * C + h * hd + k)];
        }
      }
}

TEST("masked attention: right and interior padding, exact zeros on padded keys, every query row") {
  Backend& be = device_backend();
  struct Shape { int64_t B, T, C, NH; };
  for (Shape s : {Shape{1, 1, 4, 1}, Shape{3, 6, 12, 3}, Shape{2, 17, 32, 2}, Shape{4, 9, 20, 5}, Shape{2, 33, 64, 1}}) {
    auto qkv = random_vector(size_t(s.B * s.T * 3 * s.C), 71 + uint32_t(s.T), -2.0f, 2.0f);
    std::vector<uint8_t> mask(size_t(s.B * s.T), 1);
    for (int64_t b = 0; b < s.B; ++b) {
      const int64_t real = std::max<int64_t>(1, s.T - b * 2);  // right padding of growing length
      for (int64_t t = real; t < s.T; ++t) mask[size_t(b * s.T + t)] = 0;
    }
    if (s.B > 2 && s.T > 3) mask[size_t(2 * s.T + 1)] = 0;  // a hole inside sample 2 (a general mask)
    auto dqkv = to_device(be, qkv);
    auto dmask = ints_to_device(be, mask);
    DeviceBuffer dout(be, size_t(s.B * s.T * s.C) * sizeof(float)), datt(be, size_t(s.B * s.NH * s.T * s.T) * sizeof(float));
    if (!runs_on_backend([&] {
          be.attention_masked_forward(dout.get<float>(), datt.get<float>(), dqkv.get<float>(), dmask.get<uint8_t>(),
                                      s.B, s.T, s.C, s.NH, s.T);
        }))
      return;
    std::vector<double> ref_out, ref_att;
    masked_attention_ref(qkv, mask, s.B, s.T, s.C, s.NH, ref_out, ref_att);
    auto out = to_host(dout), att = to_host(datt);
    for (size_t i = 0; i < ref_att.size(); ++i) {
      if (ref_att[i] == 0.0) CHECK(att[i] == 0.0f);
      CHECK_NEAR(att[i], ref_att[i], 1e-6);
    }
    for (size_t i = 0; i < ref_out.size(); ++i) CHECK_NEAR(out[i], ref_out[i], 2e-5);
    // A null mask is the unmasked kernel's result.
    DeviceBuffer dfull(be, size_t(s.B * s.T * s.C) * sizeof(float));
    be.attention_masked_forward(dfull.get<float>(), datt.get<float>(), dqkv.get<float>(), nullptr, s.B, s.T, s.C,
                                s.NH, s.T);
    std::vector<uint8_t> ones(mask.size(), 1);
    masked_attention_ref(qkv, ones, s.B, s.T, s.C, s.NH, ref_out, ref_att);
    auto full = to_host(dfull);
    for (size_t i = 0; i < ref_out.size(); ++i) CHECK_NEAR(full[i], ref_out[i], 2e-5);
  }
}

TEST("masked attention refuses a sample with no real token") {
  Backend& be = device_backend();
  const int64_t B = 2, T = 3, C = 4;
  auto qkv = random_vector(size_t(B * T * 3 * C), 81);
  std::vector<uint8_t> mask = {1, 1, 0, 0, 0, 0};
  auto dqkv = to_device(be, qkv);
  auto dmask = ints_to_device(be, mask);
  DeviceBuffer dout(be, size_t(B * T * C) * sizeof(float)), datt(be, size_t(B * T * T) * sizeof(float));
  bool threw = false;
  try {
    be.attention_masked_forward(dout.get<float>(), datt.get<float>(), dqkv.get<float>(), dmask.get<uint8_t>(), B, T, C, 1, T);
  } catch (const Error& e) {
    threw = std::string(e.what()).find("sample 1 has no real token") != std::string::npos ||
            std::string(e.what()).find("is not implemented on") != std::string::npos;
  }
  CHECK(threw);
}

TEST("bias + tanh and indexed row gathers") {
  Backend& be = device_backend();
  const int64_t rows = 9, cols = 21;
  auto pre = random_vector(size_t(rows * cols), 91, -4.0f, 4.0f), bias = random_vector(size_t(cols), 92);
  auto dpre = to_device(be, pre), dbias = to_device(be, bias);
  DeviceBuffer dout(be, pre.size() * sizeof(float));
  std::vector<int32_t> index = {8, 0, 3, 3, 5};
  auto dindex = ints_to_device(be, index);
  auto dsrc = to_device(be, pre);
  DeviceBuffer dgather(be, index.size() * size_t(cols) * sizeof(float));
  if (!runs_on_backend([&] {
        be.bias_tanh_forward(dpre.get<float>(), dout.get<float>(), dbias.get<float>(), rows, cols);
        be.gather_rows_indexed(dgather.get<float>(), dsrc.get<float>(), dindex.get<int32_t>(), int64_t(index.size()), cols);
      }))
    return;
  auto p = to_host(dpre), out = to_host(dout), g = to_host(dgather);
  for (int64_t i = 0; i < rows * cols; ++i) {
    const double x = double(pre[size_t(i)]) + bias[size_t(i % cols)];
    CHECK_NEAR(p[size_t(i)], x, 1e-6);
    CHECK_NEAR(out[size_t(i)], std::tanh(x), 1e-6);
  }
  for (size_t r = 0; r < index.size(); ++r)
    for (int64_t c = 0; c < cols; ++c) CHECK(g[r * size_t(cols) + size_t(c)] == pre[size_t(index[r] * cols + c)]);
}

TEST("softmax cross-entropy with argmax: wide rows, ignored labels, bad labels refused") {
  Backend& be = device_backend();
  const int64_t rows = 7, classes = 1031;  // vocabulary-wide rows with a vector tail
  auto logits = random_vector(size_t(rows * classes), 101, -9.0f, 9.0f);
  logits[size_t(2 * classes + 1000)] = 30.0f;  // a clear winner
  std::vector<int32_t> labels = {0, 1030, 1000, kIgnoreLabel, 17, 500, kIgnoreLabel};
  auto dlogits = to_device(be, logits);
  auto dlabels = ints_to_device(be, labels);
  DeviceBuffer dloss(be, size_t(rows) * sizeof(float));
  DeviceBuffer dpred(be, size_t(rows) * sizeof(int32_t));
  if (!runs_on_backend([&] {
        be.softmax_cross_entropy_forward(dloss.get<float>(), dpred.get<int32_t>(), dlogits.get<float>(),
                                         dlabels.get<int32_t>(), rows, classes);
      }))
    return;
  auto loss = to_host(dloss);
  auto pred = ints_to_host<int32_t>(be, dpred, size_t(rows));
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits.data() + r * classes;
    int64_t best = 0;
    double m = z[0], s = 0;
    for (int64_t c = 1; c < classes; ++c) {
      if (z[c] > z[best]) best = c;
      m = std::max(m, double(z[c]));
    }
    for (int64_t c = 0; c < classes; ++c) s += std::exp(double(z[c]) - m);
    CHECK(pred[size_t(r)] == int32_t(best));
    if (labels[size_t(r)] == kIgnoreLabel) {
      CHECK(std::isnan(loss[size_t(r)]));
    } else {
      CHECK_NEAR(loss[size_t(r)], m + std::log(s) - z[labels[size_t(r)]], 1e-5);
    }
  }
  CHECK(pred[2] == 1000);
  std::vector<int32_t> bad = {0, 1031, 0, 0, 0, 0, 0};
  auto dbad = ints_to_device(be, bad);
  CHECK_THROWS(be.softmax_cross_entropy_forward(dloss.get<float>(), nullptr, dlogits.get<float>(), dbad.get<int32_t>(),
                                                rows, classes));
}

}  // namespace
}  // namespace tf::test
