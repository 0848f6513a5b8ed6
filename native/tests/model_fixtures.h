// Seeded inputs for tests that run a whole model: parameters of a plausible scale for
// any layout (ViT or BERT), small BERT configs, and batches of token sequences with
// padding, as a BERT's callers bring them.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include "../core/backend.h"
#include "../core/bert/bert_model.h"
#include "../core/vit/vit_params.h"
#include "test_device.h"

namespace tf::test {

// Weight matrices uniform with variance 1/fan_in, LayerNorm gains near 1, small biases
// and embeddings: activations then stay of order 1 through the layers.
inline std::vector<float> plausible_params(const std::vector<ParamTensor>& tensors, int64_t total, uint32_t seed) {
  std::vector<float> p(size_t(total), 0.0f);
  uint32_t s = seed;
  for (const ParamTensor& t : tensors) {
    const bool ln_gain = t.name.find("ln") != std::string::npos && t.name.find(".weight") != std::string::npos;
    const bool matrix = t.shape.size() >= 2 && t.name.find(".weight") != std::string::npos;
    int64_t fan_in = 1;
    for (size_t d = 1; d < t.shape.size(); ++d) fan_in *= t.shape[d];
    const float a = matrix ? std::sqrt(3.0f / float(fan_in)) : 0.1f;
    auto v = random_vector(size_t(t.size), s++, -a, a);
    for (int64_t i = 0; i < t.size; ++i) p[size_t(t.offset + i)] = ln_gain ? 1.0f + v[size_t(i)] : v[size_t(i)];
  }
  return p;
}

// A ViT small enough for exact comparisons: 8 x 8 images in 2 x 2 patches (a 4 x 4 grid,
// 17 tokens), hidden 12 in 3 heads, MLP 20, 5 labels.
inline VitConfig toy_vit(int64_t layers = 2) {
  VitConfig c;
  c.image_size = 8;
  c.patch_size = 2;
  c.num_channels = 3;
  c.hidden_size = 12;
  c.num_layers = layers;
  c.num_heads = 3;
  c.intermediate_size = 20;
  c.num_labels = 5;
  return c;
}

// A toy_vit with uniform random parameters in [-0.5, 0.5] and `count` random images.
struct VitFixture {
  VitConfig config;
  VitParamLayout layout;
  std::vector<float> params, images;

  VitFixture(int64_t layers, uint32_t seed, int64_t count)
      : config(toy_vit(layers)), layout(config), params(random_vector(size_t(layout.total()), seed, -0.5f, 0.5f)),
        images(random_vector(size_t(count * config.image_floats()), seed + 1, -2.0f, 2.0f)) {}
};

inline BertConfig small_bert(BertHead head, int64_t hidden, int64_t layers, int64_t heads, int64_t vocab) {
  BertConfig c;
  c.head = head;
  c.vocab_size = vocab;
  c.hidden_size = hidden;
  c.num_layers = layers;
  c.num_heads = heads;
  c.intermediate_size = 4 * hidden;
  c.max_positions = 40;
  c.type_vocab_size = 2;
  c.num_labels = 3;
  c.layer_norm_eps = 1e-12f;
  return c;
}

// `count` sequences of `tokens` tokens: sample s has its own length (the first has all
// `tokens`, the others are right-padded, some down to one token), two token types, and
// labels: for a masked LM about a third of the real tokens carry one (-100 elsewhere),
// for a classifier one class per sequence.
struct TextBatch {
  int64_t count = 0, tokens = 0;
  std::vector<int32_t> ids, type_ids, labels;
  std::vector<uint8_t> mask;

  BertInputs inputs(int64_t first = 0, int64_t n = -1) const {
    BertInputs in;
    in.count = n < 0 ? count - first : n;
    in.tokens = tokens;
    in.ids = ids.data() + first * tokens;
    in.type_ids = type_ids.data() + first * tokens;
    in.mask = mask.data() + first * tokens;
    return in;
  }
  // The labels of sequences first, first + 1, ... (token labels or one class each).
  const int32_t* labels_from(const BertConfig& c, int64_t first) const {
    return labels.data() + first * (c.masked_lm() ? tokens : 1);
  }
};

inline TextBatch padded_text_batch(const BertConfig& c, int64_t count, int64_t tokens, uint32_t seed) {
  TextBatch b;
  b.count = count;
  b.tokens = tokens;
  const auto u = random_vector(size_t(count * tokens * 3), seed, 0.0f, 1.0f);
  auto draw = [&](int64_t r, int k) { return double(u[size_t(r * 3 + k)]); };
  for (int64_t s = 0; s < count; ++s) {
    const int64_t length = s == 0 ? tokens : std::max<int64_t>(1, tokens - (s * 5) % tokens);
    for (int64_t t = 0; t < tokens; ++t) {
      const int64_t r = s * tokens + t;
      const bool real = t < length;
      b.ids.push_back(real ? int32_t(draw(r, 0) * double(c.vocab_size - 1)) : 0);
      b.type_ids.push_back(real && t >= length / 2 ? 1 : 0);
      b.mask.push_back(real ? 1 : 0);
      if (c.masked_lm())
        b.labels.push_back(real && (draw(r, 1) < 0.33 || t == 0) ? int32_t(draw(r, 2) * double(c.vocab_size - 1))
                                                                 : kIgnoreLabel);
    }
    if (!c.masked_lm()) b.labels.push_back(int32_t(s % c.num_labels));
  }
  return b;
}

// A small BERT's config, seeded parameters and a padded batch for it.
struct BertFixture {
  BertConfig config;
  BertParamLayout layout;
  std::vector<float> params;
  TextBatch batch;

  BertFixture(const BertConfig& c, uint32_t seed, int64_t count, int64_t tokens)
      : config(c), layout(c), params(plausible_params(layout.tensors(), layout.total(), seed)),
        batch(padded_text_batch(c, count, tokens, seed + 1)) {}
  std::string head() const { return config.masked_lm() ? "masked LM" : "classifier"; }
};

}  // namespace tf::test
