// What a device backend does differently from the CPU in VitModel, checked on a machine
// without a GPU through the stand-in device (stand_in_device.h), which takes the same
// paths as CUDA: images staged to device memory, labels copied, activations either copied
// into a host-side store point by point as they are produced, or kept in a store that
// lives on the device (rows chosen, compacted and transformed there). Its results must be
// bit-identical to the CPU backend's.
#include <cstring>
#include <string>
#include <vector>

#include "../core/activations/activation_store.h"
#include "../core/error.h"
#include "../core/vit/vit_model.h"
#include "check.h"
#include "model_fixtures.h"
#include "stand_in_device.h"
#include "test_device.h"

namespace tf::test {
namespace {

// The toy ViT with random weights on the CPU and on the stand-in device (micro-batches
// of 4), and 11 random images with labels.
struct ToyPair {
  explicit ToyPair(uint32_t seed)
      : params(random_vector(size_t(VitParamLayout(c).total()), seed, -0.5f, 0.5f)),
        images(random_vector(size_t(n * c.image_floats()), seed + 1, -2.0f, 2.0f)),
        on_cpu(c, cpu_backend(), params.data(), int64_t(params.size())),
        on_dev(c, dev, params.data(), int64_t(params.size())) {
    for (int64_t i = 0; i < n; ++i) labels.push_back(int32_t(i % c.num_labels));
    on_cpu.set_micro_batch(4);
    on_dev.set_micro_batch(4);
  }
  const VitConfig c = toy_vit();
  const int64_t n = 11;
  std::vector<float> params, images;
  std::vector<int32_t> labels;
  StandInDevice dev;
  VitModel on_cpu, on_dev;
};

TEST("device paths of VitModel (staged images, capture into a host store) match the CPU bit for bit") {
  ToyPair pair(71);
  auto& [c, n, params, images, labels, dev, on_cpu, on_dev] = pair;

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

// Every kept entry of two stores, read through copy_to_host (device or host memory).
void check_same_entries(const ActivationStore& a, const ActivationStore& b, const std::string& what) {
  CHECK(a.num_samples() == b.num_samples());
  for (size_t i = 0; i < a.entry_count(); ++i) {
    if (!a.entry(i).kept || a.released(i)) continue;
    CHECK(a.rows(i) == b.rows(i) && a.cols(i) == b.cols(i));
    std::vector<float> x(size_t(a.rows(i) * a.cols(i))), y(x.size());
    a.copy_to_host(i, x.data());
    b.copy_to_host(i, y.data());
    if (std::memcmp(x.data(), y.data(), x.size() * sizeof(float)) != 0)
      record_failure(__FILE__, __LINE__, what + ": entry '" + a.entry(i).name + "' differs between the CPU store and the device store");
  }
}

TEST("a store on the device keeps its rows there and matches a CPU store bit for bit") {
  ToyPair pair(73);
  auto& [c, n, params, images, labels, dev, on_cpu, on_dev] = pair;
  struct Variant { const char* name; SequenceFilter filter; int64_t window; bool average; ActivationTransform t; };
  for (const Variant& v : {Variant{"all tokens, std", SequenceFilter::None, 0, false, ActivationTransform::Std},
                           Variant{"window_2, center", SequenceFilter::Window, 2, false, ActivationTransform::Center},
                           Variant{"only_cls, norm", SequenceFilter::OnlyCls, 0, false, ActivationTransform::Norm},
                           Variant{"averaged, std", SequenceFilter::None, 0, true, ActivationTransform::Std}}) {
    ActivationStoreOptions o;
    o.capacity = n;
    o.filter = v.filter;
    o.window = v.window;
    o.average_tokens = v.average;
    ActivationStore a(on_cpu.capture_points(), o), b(on_dev.capture_points(), o, dev);
    CHECK(b.on_device() && !a.on_device());
    CHECK(on_cpu.capture(a, images.data(), 5, labels.data(), nullptr) == 5);
    CHECK(on_cpu.capture(a, images.data() + 5 * c.image_floats(), n - 5, labels.data() + 5, nullptr) == n - 5);
    const int before = dev.downloads;
    CHECK(on_dev.capture(b, images.data(), 5, labels.data(), nullptr) == 5);
    CHECK(on_dev.capture(b, images.data() + 5 * c.image_floats(), n - 5, labels.data() + 5, nullptr) == n - 5);
    // Only logits and losses come back, once per micro-batch: the activations stay put.
    CHECK(dev.downloads - before == 2 * 4);
    check_same_entries(a, b, std::string(v.name) + ", captured");
    CHECK(std::memcmp(a.losses(), b.losses(), size_t(n) * sizeof(float)) == 0);
    // Drop samples (the loss threshold), transform, and compare again.
    std::vector<uint8_t> mask(static_cast<size_t>(n), 1);
    mask[0] = mask[4] = mask[7] = 0;
    a.keep(mask.data(), n);
    b.keep(mask.data(), n);
    CHECK(b.num_samples() == n - 3);
    CHECK(std::memcmp(a.losses(), b.losses(), size_t(n - 3) * sizeof(float)) == 0);
    check_same_entries(a, b, std::string(v.name) + ", after keep");
    a.finalize(v.t);
    b.finalize(v.t);
    check_same_entries(a, b, std::string(v.name) + ", finalized");
    for (size_t i = 0; i < a.entry_count(); ++i) {
      const MatrixStats sa = a.stats(i), sb = b.stats(i);
      CHECK(sa.mean == sb.mean && sa.std == sb.std && sa.min == sb.min && sa.max == sb.max);
    }
    b.release(0);
    CHECK(b.released(0));
    CHECK_THROWS(b.data(0));
    check_same_entries(b, a, std::string(v.name) + ", after a release");
  }
  // Each point's row lists go up once per layout: a repeated micro-batch uploads only what
  // the model itself stages (its images and labels), as a capture into a host store does.
  {
    ActivationStoreOptions o;
    o.capacity = 8;
    o.filter = SequenceFilter::Window;
    o.window = 2;
    ActivationStore on_host(on_dev.capture_points(), o), resident(on_dev.capture_points(), o, dev);
    auto uploads = [&](ActivationStore& s) {
      const int before = dev.uploads;
      CHECK(on_dev.capture(s, images.data(), 4, labels.data(), nullptr) == 4);
      return dev.uploads - before;
    };
    const int model_only = uploads(on_host), first = uploads(resident), repeat = uploads(resident);
    CHECK(first > model_only);
    CHECK(repeat == model_only);
  }
  // A device store is filled by the model on that device only.
  ActivationStoreOptions o;
  o.capacity = 2;
  ActivationStore on_device(on_cpu.capture_points(), o, dev);
  CHECK_THROWS(on_cpu.capture(on_device, images.data(), 2, labels.data(), nullptr));
}

}  // namespace
}  // namespace tf::test
