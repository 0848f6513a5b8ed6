// What a device backend does differently from the CPU in VitModel, checked on a machine
// without a GPU: a stand-in backend that runs the CPU kernels but calls itself a device
// (its memory is separate from the host's, and every copy goes through copy_from_host /
// copy_to_host) takes the same paths as CUDA: images staged to device memory, labels
// copied, activations copied into the host-side store point by point as they are
// produced. Its results must be bit-identical to the CPU backend's.
#include <cstring>
#include <string>
#include <vector>

#include "../core/activations/activation_store.h"
#include "../core/vit/vit_model.h"
#include "check.h"
#include "test_device.h"

namespace tf::test {
namespace {

// The CPU's kernels behind a device-style interface. Device memory is poisoned on
// allocation, and copies are counted, so a path that reads device memory as if it were
// host memory, or forgets a copy, shows up as a wrong value.
class StandInDevice final : public Backend {
 public:
  Device device() const override { return Device::Cuda; }
  std::string describe() const override { return "stand-in device (CPU kernels)"; }
  void* allocate(size_t bytes) override {
    void* p = cpu().allocate(bytes);
    std::memset(p, 0xff, bytes);  // NaN floats
    return p;
  }
  void deallocate(void* ptr) noexcept override { cpu().deallocate(ptr); }
  void copy_from_host(void* dst, const void* src, size_t bytes) override {
    ++uploads;
    std::memcpy(dst, src, bytes);
  }
  void copy_to_host(void* dst, const void* src, size_t bytes) override {
    ++downloads;
    std::memcpy(dst, src, bytes);
  }
  void synchronize() override {}
  void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a, int64_t lda,
            const float* b, int64_t ldb, float beta, float* c, int64_t ldc) override {
    cpu().gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  }
  void gelu_forward(float* out, const float* inp, int64_t n) override { cpu().gelu_forward(out, inp, n); }
  void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n) override {
    cpu().gelu_backward(dinp, inp, dout, n);
  }
  void axpby(float* y, const float* x, float alpha, float beta, int64_t n) override { cpu().axpby(y, x, alpha, beta, n); }
  double dot(const float* x, const float* y, int64_t n) override { return cpu().dot(x, y, n); }
  void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight, const float* bias,
                         int64_t rows, int64_t cols, float eps) override {
    cpu().layernorm_forward(out, mean, rstd, inp, weight, bias, rows, cols, eps);
  }
  void attention_forward(float* out, float* att, const float* qkv, int64_t batch, int64_t tokens, int64_t channels,
                         int64_t heads, int64_t queries) override {
    cpu().attention_forward(out, att, qkv, batch, tokens, channels, heads, queries);
  }
  void patch_extract(float* patches, const float* images, int64_t batch, int64_t channels, int64_t image_size,
                     int64_t patch_size) override {
    cpu().patch_extract(patches, images, batch, channels, image_size, patch_size);
  }
  void embeddings_assemble(float* out, const float* patch_out, const float* cls, const float* pos, int64_t batch,
                           int64_t patches, int64_t channels) override {
    cpu().embeddings_assemble(out, patch_out, cls, pos, batch, patches, channels);
  }
  void add_bias(float* x, const float* bias, int64_t rows, int64_t cols) override { cpu().add_bias(x, bias, rows, cols); }
  void bias_gelu_forward(float* pre, float* out, const float* bias, int64_t rows, int64_t cols) override {
    cpu().bias_gelu_forward(pre, out, bias, rows, cols);
  }
  void bias_residual_forward(float* out, float* proj, const float* bias, const float* residual, int64_t rows,
                             int64_t cols) override {
    cpu().bias_residual_forward(out, proj, bias, residual, rows, cols);
  }
  void gather_rows(float* dst, const float* src, int64_t rows, int64_t cols, int64_t src_stride) override {
    cpu().gather_rows(dst, src, rows, cols, src_stride);
  }
  void cross_entropy_forward(float* losses, const float* logits, const int32_t* labels, int64_t rows,
                             int64_t classes) override {
    cpu().cross_entropy_forward(losses, logits, labels, rows, classes);
  }

  int uploads = 0, downloads = 0;

 private:
  static Backend& cpu() { return cpu_backend(); }
};

VitConfig toy_vit() {
  VitConfig c;
  c.image_size = 8;
  c.patch_size = 2;  // 4 x 4 grid, 17 tokens
  c.num_channels = 3;
  c.hidden_size = 12;
  c.num_layers = 2;
  c.num_heads = 3;
  c.intermediate_size = 20;
  c.num_labels = 5;
  return c;
}

TEST("device paths of VitModel (staged images, capture into a host store) match the CPU bit for bit") {
  const VitConfig c = toy_vit();
  const VitParamLayout layout(c);
  auto params = random_vector(size_t(layout.total()), 71, -0.5f, 0.5f);
  const int64_t n = 11;
  const auto images = random_vector(size_t(n * c.image_floats()), 72, -2.0f, 2.0f);
  std::vector<int32_t> labels(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) labels[size_t(i)] = int32_t(i % c.num_labels);
  StandInDevice dev;
  VitModel on_cpu(c, cpu_backend(), params.data(), int64_t(params.size()));
  VitModel on_dev(c, dev, params.data(), int64_t(params.size()));
  on_cpu.set_micro_batch(4);
  on_dev.set_micro_batch(4);

  std::vector<float> lc(size_t(n * c.num_labels)), ld(lc.size()), sc(static_cast<size_t>(n)), sd(sc.size());
  on_cpu.forward(images.data(), n, lc.data(), labels.data(), sc.data(), nullptr);
  on_dev.forward(images.data(), n, ld.data(), labels.data(), sd.data(), nullptr);
  CHECK(lc == ld);
  CHECK(sc == sd);

  for (SequenceFilter filter : {SequenceFilter::None, SequenceFilter::Window}) {
    ActivationStoreOptions o;
    o.capacity = n;
    o.filter = filter;
    o.window = 2;
    if (filter == SequenceFilter::Window) o.only = {"embed.patch", "layers.1.key", "layers.1.mlp_in", "head"};
    ActivationStore a(on_cpu.capture_points(), o), b(on_dev.capture_points(), o);
    // Two calls on both (the same micro-batches: BLAS may round differently by shape).
    CHECK(on_cpu.capture(a, images.data(), 5, labels.data(), nullptr) == 5);
    CHECK(on_cpu.capture(a, images.data() + 5 * c.image_floats(), n - 5, labels.data() + 5, nullptr) == n - 5);
    const int before = dev.downloads;
    CHECK(on_dev.capture(b, images.data(), 5, labels.data(), nullptr) == 5);
    CHECK(on_dev.capture(b, images.data() + 5 * c.image_floats(), n - 5, labels.data() + 5, nullptr) == n - 5);
    // One copy per kept point and micro-batch (plus logits and losses per micro-batch).
    size_t kept = 0;
    for (size_t i = 0; i < b.entry_count(); ++i) kept += b.entry(i).kept;
    const int micro_batches = 2 + 2;  // 5 = 4 + 1, 6 = 4 + 2
    CHECK(dev.downloads - before == int(kept) * micro_batches + 2 * micro_batches);
    CHECK(a.num_samples() == b.num_samples());
    for (size_t i = 0; i < a.entry_count(); ++i) {
      if (!a.entry(i).kept) continue;
      const size_t count = size_t(a.rows(i) * a.cols(i));
      for (size_t k = 0; k < count; ++k)
        if (std::memcmp(a.data(i) + k, b.data(i) + k, sizeof(float)) != 0) {
          record_failure(__FILE__, __LINE__, "entry '" + a.entry(i).name + "' differs between the CPU and the device path at " +
                                                 std::to_string(k) + " of " + std::to_string(count) + ": " +
                                                 std::to_string(a.data(i)[k]) + " vs " + std::to_string(b.data(i)[k]));
          break;
        }
    }
    CHECK(std::memcmp(a.losses(), b.losses(), size_t(n) * sizeof(float)) == 0);
  }
}

}  // namespace
}  // namespace tf::test
