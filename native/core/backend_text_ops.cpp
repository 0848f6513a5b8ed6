// Base-class versions of the text encoder's ops (see backend_encoder_ops.cpp): a backend
// without its own twin reports the op by name. The CPU backend overrides all of them.
#include "backend.h"

namespace tf {

void Backend::token_embeddings_forward(float*, const int32_t*, const int32_t*, const float*, const float*,
                                       const float*, int64_t, int64_t, int64_t) {
  not_implemented("token_embeddings_forward");
}
void Backend::attention_masked_forward(float*, float*, const float*, const uint8_t*, int64_t, int64_t, int64_t,
                                       int64_t, int64_t) {
  not_implemented("attention_masked_forward");
}
void Backend::bias_tanh_forward(float*, float*, const float*, int64_t, int64_t) { not_implemented("bias_tanh_forward"); }
void Backend::gather_rows_indexed(float*, const float*, const int32_t*, int64_t, int64_t) {
  not_implemented("gather_rows_indexed");
}
void Backend::softmax_cross_entropy_forward(float*, int32_t*, const float*, const int32_t*, int64_t, int64_t) {
  not_implemented("softmax_cross_entropy_forward");
}

void Backend::token_embeddings_backward(float*, float*, float*, const float*, const int32_t*, const int32_t*, int64_t,
                                        int64_t, int64_t) {
  not_implemented("token_embeddings_backward");
}
void Backend::tanh_backward(float*, const float*, const float*, int64_t) { not_implemented("tanh_backward"); }
void Backend::scatter_add_rows_indexed(float*, const float*, const int32_t*, int64_t, int64_t) {
  not_implemented("scatter_add_rows_indexed");
}

}  // namespace tf
