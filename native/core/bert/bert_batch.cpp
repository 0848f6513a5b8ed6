#include "bert_batch.h"

#include <algorithm>

namespace tf {

std::vector<int64_t> bert_packed_starts(const BertInputs& in, const int32_t* token_labels) {
  const int64_t T = in.tokens;
  // No padding: nothing to skip, and the batched kernels beat per-sample attention.
  if (!in.mask || std::all_of(in.mask, in.mask + in.count * T, [](uint8_t m) { return m != 0; })) return {};
  std::vector<int64_t> starts = {0};
  for (int64_t b = 0; b < in.count; ++b) {
    const uint8_t* m = in.mask + b * T;
    int64_t n = 0;
    while (n < T && m[n]) ++n;
    for (int64_t t = n; t < T; ++t)
      if (m[t] || (token_labels && token_labels[b * T + t] != kIgnoreLabel)) return {};
    starts.push_back(starts.back() + n);
  }
  return starts;
}

std::vector<int64_t> bert_batch_starts(const Backend& be, const BertInputs& in, const int32_t* token_labels) {
  if (!be.packs_padded_batches()) return {};
  return bert_packed_starts(in, token_labels);
}

BertBatch upload_bert_batch(Backend& be, BertBuffers& buf, const BertInputs& in, const std::vector<int64_t>& starts) {
  const int64_t B = in.count, T = in.tokens, R = B * T;
  BertBatch batch;
  batch.batch = B;
  batch.tokens = T;
  batch.ids = buf.ids;
  if (!starts.empty()) {
    std::vector<int32_t> ids, types, first(static_cast<size_t>(B));
    for (int64_t b = 0; b < B; ++b) {
      first[size_t(b)] = int32_t(starts[size_t(b)]);
      for (int64_t t = 0; t < starts[size_t(b) + 1] - starts[size_t(b)]; ++t) {
        ids.push_back(in.ids[b * T + t]);
        if (in.type_ids) types.push_back(in.type_ids[b * T + t]);
      }
    }
    be.copy_from_host(buf.ids, ids.data(), ids.size() * sizeof(int32_t));
    if (in.type_ids) {
      be.copy_from_host(buf.type_ids, types.data(), types.size() * sizeof(int32_t));
      batch.type_ids = buf.type_ids;
    }
    be.copy_from_host(buf.sample_starts, first.data(), first.size() * sizeof(int32_t));
    batch.starts = starts.data();
    batch.device_starts = buf.sample_starts;
    batch.host_mask = in.mask;  // for a capture: which tokens each sample's packed rows are
    return batch;
  }
  be.copy_from_host(buf.ids, in.ids, size_t(R) * sizeof(int32_t));
  if (in.type_ids) {
    be.copy_from_host(buf.type_ids, in.type_ids, size_t(R) * sizeof(int32_t));
    batch.type_ids = buf.type_ids;
  }
  if (in.mask && std::any_of(in.mask, in.mask + R, [](uint8_t m) { return m == 0; })) {
    be.copy_from_host(buf.mask, in.mask, size_t(R));
    batch.mask = buf.mask;
    batch.host_mask = in.mask;
  }
  return batch;
}

}  // namespace tf
