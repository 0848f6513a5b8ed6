// The shape of a Hugging Face BertForMaskedLM or BertForSequenceClassification, in
// BertConfig terms (post-LN encoder, absolute positions, exact-erf GELU).
#pragma once

#include <cstdint>
#include <string>

#include "../error.h"

namespace tf {

enum class BertHead { MaskedLM, SequenceClassification };

struct BertConfig {
  int64_t vocab_size = 30522;
  int64_t hidden_size = 768;
  int64_t num_layers = 12;
  int64_t num_heads = 12;
  int64_t intermediate_size = 3072;
  int64_t max_positions = 512;   // max_position_embeddings: the longest sequence
  int64_t type_vocab_size = 2;
  int64_t num_labels = 2;        // SequenceClassification only
  float layer_norm_eps = 1e-12f;
  BertHead head = BertHead::MaskedLM;
  // The masked-LM decoder reuses the word embeddings (HF's tie_word_embeddings, the
  // default); false gives it a matrix of its own.
  bool tied_decoder = true;

  int64_t head_dim() const { return hidden_size / num_heads; }
  bool masked_lm() const { return head == BertHead::MaskedLM; }

  // Throws tf::Error naming the first field that cannot describe a BERT.
  void validate() const {
    auto positive = [](int64_t v, const char* name) {
      if (v <= 0) throw Error(std::string("BERT config: ") + name + " must be positive, got " + std::to_string(v));
    };
    positive(vocab_size, "vocab_size");
    positive(hidden_size, "hidden_size");
    positive(num_layers, "num_hidden_layers");
    positive(num_heads, "num_attention_heads");
    positive(intermediate_size, "intermediate_size");
    positive(max_positions, "max_position_embeddings");
    positive(type_vocab_size, "type_vocab_size");
    positive(num_labels, "num_labels");
    if (hidden_size % num_heads != 0)
      throw Error("BERT config: hidden_size " + std::to_string(hidden_size) +
                  " is not a multiple of num_attention_heads " + std::to_string(num_heads));
    if (vocab_size > (int64_t(1) << 31) - 1) throw Error("BERT config: vocab_size does not fit 32-bit token ids");
    if (!(layer_norm_eps > 0.0f)) throw Error("BERT config: layer_norm_eps must be positive");
  }
};

}  // namespace tf
