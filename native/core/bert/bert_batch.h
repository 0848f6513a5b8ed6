// A batch of token sequences put where a BERT pass reads it: ids and token types uploaded
// to the backend, and the mask, or, when every sample's real tokens come first and no
// label sits on padding, a packed batch (real tokens only, sample after sample) that
// skips the padding's work altogether. Inference, capture and training share it.
#pragma once

#include <cstdint>
#include <vector>

#include "../backend.h"
#include "bert_buffers.h"
#include "bert_forward.h"
#include "bert_model.h"

namespace tf {

// First rows of the samples of a packed batch (count + 1 prefix sums of their lengths),
// or nothing when the batch has no padding to skip or cannot be packed: a sample whose
// real tokens are not a prefix (its positions would move), or a label on padding (it
// would lose its row).
// `token_labels` (count x tokens, -100 = none) may be null.
std::vector<int64_t> bert_packed_starts(const BertInputs& in, const int32_t* token_labels);

// bert_packed_starts where the backend packs padded batches (Backend::packs_padded_batches):
// the CPU, whose time follows the rows it computes. On a GPU a packed batch costs one
// attention and one embedding launch per sample and layer, and those launches, not the
// rows, set the time: on an H200 a padded BERT batch ran 1.3x (hidden 768) to 7x (hidden
// 96) slower packed than a batch of the same size with no padding (bench/gpu/RESULTS.md),
// so there it stays padded, with a key mask.
std::vector<int64_t> bert_batch_starts(const Backend& be, const BertInputs& in, const int32_t* token_labels);

// Uploads `in` into `buf` and describes it. With `starts` from bert_packed_starts (not
// empty), the batch is packed; `starts` must outlive the returned batch (it points into
// it). A mask with no padding is dropped: the unmasked kernels compute the same function.
BertBatch upload_bert_batch(Backend& be, BertBuffers& buf, const BertInputs& in, const std::vector<int64_t>& starts);

}  // namespace tf
