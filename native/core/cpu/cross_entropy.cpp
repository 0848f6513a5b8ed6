// Per-sample cross-entropy of logits against integer labels, in double: the numbers
// behind `loss_thres` and the mean loss of an evaluation; and the training loss with
// label smoothing together with its gradient.
#include <cmath>
#include <vector>
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

void cross_entropy_backward(float* dlogits, float* losses, const float* logits, const int32_t* labels, int64_t rows,
                            int64_t classes, float label_smoothing, float scale) {
  const double e = label_smoothing, off = e / double(classes);
  std::vector<double> p(static_cast<size_t>(classes));
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t label = labels[r];
    if (label < 0 || label >= classes)
      throw Error("cross entropy: label " + std::to_string(label) + " of sample " + std::to_string(r) +
                  " is outside [0, " + std::to_string(classes) + ")");
    const float* z = logits + r * classes;
    double m = z[0];
    for (int64_t c = 1; c < classes; ++c) m = std::max(m, double(z[c]));
    double s = 0, zsum = 0;
    for (int64_t c = 0; c < classes; ++c) {
      p[size_t(c)] = std::exp(double(z[c]) - m);
      s += p[size_t(c)];
      zsum += z[c];
    }
    const double lse = m + std::log(s);
    losses[r] = float(lse - (1.0 - e) * double(z[label]) - e * zsum / double(classes));
    float* dz = dlogits + r * classes;
    for (int64_t c = 0; c < classes; ++c) {
      const double target = (c == label ? 1.0 - e : 0.0) + off;
      dz[c] = float(double(scale) * (p[size_t(c)] / s - target));
    }
  }
}

}  // namespace tf::cpu
