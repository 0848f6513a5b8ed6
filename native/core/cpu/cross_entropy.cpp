// Per-sample cross-entropy of logits against integer labels, in double: the numbers
// behind `loss_thres` and the mean loss of an evaluation.
#include <cmath>
#include <string>

#include "../error.h"
#include "encoder_kernels.h"

namespace tf::cpu {

void cross_entropy_forward(float* losses, const float* logits, const int32_t* labels, int64_t rows,
                           int64_t classes) {
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t label = labels[r];
    if (label < 0 || label >= classes)
      throw Error("cross entropy: label " + std::to_string(label) + " of sample " + std::to_string(r) +
                  " is outside [0, " + std::to_string(classes) + ")");
    const float* z = logits + r * classes;
    double m = z[0];
    for (int64_t c = 1; c < classes; ++c) m = std::max(m, double(z[c]));
    double s = 0;
    for (int64_t c = 0; c < classes; ++c) s += std::exp(double(z[c]) - m);
    losses[r] = float(m + std::log(s) - double(z[label]));
  }
}

}  // namespace tf::cpu
