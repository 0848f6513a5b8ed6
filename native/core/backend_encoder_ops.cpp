// Base-class versions of the encoder, training and activation-store ops: a backend
// without its own twin of an op reports it instead of failing to compile. The CPU backend
// overrides all of them.
#include "backend.h"
#include "error.h"
#include "train/train_ops.h"

namespace tf {

void Backend::not_implemented(const char* op) const {
  throw Error(std::string(op) + " is not implemented on " + device_name(device()) + " yet");
}

void Backend::layernorm_forward(float*, float*, float*, const float*, const float*, const float*, int64_t, int64_t,
                                float) {
  not_implemented("layernorm_forward");
}
void Backend::attention_forward(float*, float*, const float*, int64_t, int64_t, int64_t, int64_t, int64_t) {
  not_implemented("attention_forward");
}
void Backend::patch_extract(float*, const float*, int64_t, int64_t, int64_t, int64_t) {
  not_implemented("patch_extract");
}
void Backend::embeddings_assemble(float*, const float*, const float*, const float*, int64_t, int64_t, int64_t) {
  not_implemented("embeddings_assemble");
}
void Backend::add_bias(float*, const float*, int64_t, int64_t) { not_implemented("add_bias"); }
void Backend::bias_gelu_forward(float*, float*, const float*, int64_t, int64_t) {
  not_implemented("bias_gelu_forward");
}
void Backend::bias_residual_forward(float*, float*, const float*, const float*, int64_t, int64_t) {
  not_implemented("bias_residual_forward");
}
void Backend::gather_rows(float*, const float*, int64_t, int64_t, int64_t) { not_implemented("gather_rows"); }
void Backend::scale_shift_columns(float*, const float*, const float*, int64_t, int64_t) {
  not_implemented("scale_shift_columns");
}
void Backend::cross_entropy_forward(float*, const float*, const int32_t*, int64_t, int64_t) {
  not_implemented("cross_entropy_forward");
}

void Backend::zero(float*, int64_t) { not_implemented("zero"); }
void Backend::layernorm_backward(float*, float*, float*, const float*, const float*, const float*, const float*,
                                 const float*, int64_t, int64_t) {
  not_implemented("layernorm_backward");
}
void Backend::attention_backward(float*, const float*, const float*, const float*, int64_t, int64_t, int64_t,
                                 int64_t) {
  not_implemented("attention_backward");
}
void Backend::embeddings_backward(float*, float*, float*, const float*, int64_t, int64_t, int64_t) {
  not_implemented("embeddings_backward");
}
void Backend::bias_backward(float*, const float*, int64_t, int64_t) { not_implemented("bias_backward"); }
void Backend::scatter_add_rows(float*, const float*, int64_t, int64_t, int64_t) {
  not_implemented("scatter_add_rows");
}
void Backend::cross_entropy_backward(float*, float*, const float*, const int32_t*, int64_t, int64_t, float, float) {
  not_implemented("cross_entropy_backward");
}
double Backend::sum_squares(const float*, int64_t) { not_implemented("sum_squares"); }
void Backend::adamw_update(float*, float*, float*, const float*, int64_t, const AdamWStep&) {
  not_implemented("adamw_update");
}
void Backend::augment_images(float*, const float*, int64_t, int64_t, int64_t, const AugmentParams&) {
  not_implemented("augment_images");
}
void Backend::gather_mean_rows(float*, const float*, int64_t, int64_t, const int32_t*, const int32_t*, int64_t) {
  not_implemented("gather_mean_rows");
}
void Backend::activation_transform(float*, int64_t, int64_t, ActivationTransform) {
  not_implemented("activation_transform");
}

}  // namespace tf
