// What a device backend does differently from the CPU in VitModel, checked on a machine
// without a GPU through the stand-in device (stand_in_device.h), which takes the same
// paths as CUDA: images staged to device memory, labels copied, activations copied into
// the host-side store point by point as they are produced. Its results must be
// bit-identical to the CPU backend's.
#include <cstring>
#include <string>
#include <vector>

#include "../core/activations/activation_store.h"
#include "../core/vit/vit_model.h"
#include "check.h"
#include "stand_in_device.h"
#include "test_device.h"

namespace tf::test {
namespace {

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
