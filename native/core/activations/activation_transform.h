// Column-wise transforms and summary statistics of an activation matrix (rows = samples
// x tokens, columns = neurons, row-major float32), as the fusion applies them before
// computing costs between neurons. Sums run in double.
#pragma once

#include <cstdint>
#include <string>

namespace tf {

enum class ActivationTransform {
  None,
  Std,     // (x - mean) / (std + 1e-9), std unbiased (n - 1), per column
  Center,  // x - mean, per column
  Norm,    // x / max(||column||_2, 1e-12)
};

// Parses "none" | "std" | "center" | "norm"; throws tf::Error otherwise.
ActivationTransform parse_activation_transform(const std::string& name);
const char* activation_transform_name(ActivationTransform t);

// Applies `t` in place to a rows x cols matrix. Std needs at least two rows (the unbiased
// std of one row is undefined) and throws tf::Error with fewer.
void apply_activation_transform(float* x, int64_t rows, int64_t cols, ActivationTransform t);

struct MatrixStats {
  double mean = 0, std = 0, min = 0, max = 0;  // over every element; std is the population std
};
MatrixStats matrix_stats(const float* x, int64_t count);

}  // namespace tf
