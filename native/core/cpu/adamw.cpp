// AdamW (decoupled weight decay), element by element in float32 with the scalars that
// torch.optim.AdamW derives in double, in its order of operations, so both take the same
// step from the same gradients.
#include <cmath>

#include "../thread_pool.h"
#include "simd.h"
#include "train_kernels.h"

namespace tf::cpu {

namespace {

TF_SIMD_CLONES
void adamw_range(float* p, float* m, float* v, const float* g, int64_t n, float decay, float b1, float one_minus_b1,
                 float b2, float one_minus_b2, float step_size, float bc2_sqrt, float eps, float grad_scale) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i] * grad_scale;
    const float pi = p[i] * decay;
    const float mi = m[i] * b1 + gi * one_minus_b1;
    const float vi = v[i] * b2 + gi * gi * one_minus_b2;
    m[i] = mi;
    v[i] = vi;
    p[i] = pi - step_size * (mi / (std::sqrt(vi) / bc2_sqrt + eps));
  }
}

}  // namespace

void adamw_update(float* params, float* m, float* v, const float* grads, int64_t n, const AdamWStep& s) {
  const double lr = s.lr;
  const float decay = float(1.0 - lr * double(s.weight_decay));
  const float step_size = float(lr / s.bias_correction1);
  const float bc2_sqrt = float(std::sqrt(s.bias_correction2));
  const float b1 = float(s.beta1), b2 = float(s.beta2);
  const float omb1 = float(1.0 - s.beta1), omb2 = float(1.0 - s.beta2);
  parallel_for(n, 1 << 14, [&](int64_t b, int64_t e) {
    adamw_range(params + b, m + b, v + b, grads + b, e - b, decay, b1, omb1, b2, omb2, step_size, bc2_sqrt, float(s.eps),
                s.grad_scale);
  });
}

}  // namespace tf::cpu
