#include "activation_transform.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <mutex>
#include <vector>

#include "../error.h"
#include "../thread_pool.h"

namespace tf {

ActivationTransform parse_activation_transform(const std::string& name) {
  if (name == "none") return ActivationTransform::None;
  if (name == "std") return ActivationTransform::Std;
  if (name == "center") return ActivationTransform::Center;
  if (name == "norm") return ActivationTransform::Norm;
  throw Error("unknown activation transform '" + name + "' (expected none, std, center or norm)");
}

const char* activation_transform_name(ActivationTransform t) {
  switch (t) {
    case ActivationTransform::Std: return "std";
    case ActivationTransform::Center: return "center";
    case ActivationTransform::Norm: return "norm";
    default: return "none";
  }
}

namespace {

constexpr int64_t kColumnBlock = 64;  // columns one task owns: 256 bytes of every row

// Column statistics over one block of columns [c0, c1): sums walk the rows in order, so
// each row contributes a contiguous run of memory.
void transform_block(float* x, int64_t rows, int64_t cols, int64_t c0, int64_t c1, ActivationTransform t) {
  const int64_t w = c1 - c0;
  std::vector<double> mean(size_t(w), 0.0), second(size_t(w), 0.0);
  if (t == ActivationTransform::Norm) {
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = x + r * cols + c0;
      for (int64_t j = 0; j < w; ++j) second[j] += double(row[j]) * double(row[j]);
    }
    std::vector<float> scale(static_cast<size_t>(w));
    for (int64_t j = 0; j < w; ++j) scale[j] = float(1.0 / std::max(std::sqrt(second[j]), 1e-12));
    for (int64_t r = 0; r < rows; ++r) {
      float* row = x + r * cols + c0;
      for (int64_t j = 0; j < w; ++j) row[j] *= scale[j];
    }
    return;
  }
  for (int64_t r = 0; r < rows; ++r) {
    const float* row = x + r * cols + c0;
    for (int64_t j = 0; j < w; ++j) mean[j] += row[j];
  }
  for (auto& m : mean) m /= double(rows);
  std::vector<float> shift(static_cast<size_t>(w)), scale(static_cast<size_t>(w), 1.0f);
  for (int64_t j = 0; j < w; ++j) shift[j] = float(mean[j]);
  if (t == ActivationTransform::Std) {
    // Two passes: deviations from the mean, so large offsets do not cancel precision.
    for (int64_t r = 0; r < rows; ++r) {
      const float* row = x + r * cols + c0;
      for (int64_t j = 0; j < w; ++j) {
        const double d = double(row[j]) - mean[j];
        second[j] += d * d;
      }
    }
    for (int64_t j = 0; j < w; ++j) scale[j] = float(1.0 / (std::sqrt(second[j] / double(rows - 1)) + 1e-9));
  }
  for (int64_t r = 0; r < rows; ++r) {
    float* row = x + r * cols + c0;
    for (int64_t j = 0; j < w; ++j) row[j] = float((double(row[j]) - mean[j]) * double(scale[j]));
  }
}

}  // namespace

void apply_activation_transform(float* x, int64_t rows, int64_t cols, ActivationTransform t) {
  if (t == ActivationTransform::None || rows == 0 || cols == 0) return;
  if (t == ActivationTransform::Std && rows < 2)
    throw Error("the std transform needs at least 2 rows per activation, got " + std::to_string(rows));
  const int64_t blocks = (cols + kColumnBlock - 1) / kColumnBlock;
  parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b)
      transform_block(x, rows, cols, b * kColumnBlock, std::min(cols, (b + 1) * kColumnBlock), t);
  });
}

MatrixStats matrix_stats(const float* x, int64_t count) {
  MatrixStats s;
  if (count == 0) return s;
  std::mutex m;
  double sum = 0, mn = std::numeric_limits<double>::infinity(), mx = -mn;
  parallel_for(count, 1 << 16, [&](int64_t i0, int64_t i1) {
    double ls = 0, lmn = std::numeric_limits<double>::infinity(), lmx = -lmn;
    for (int64_t i = i0; i < i1; ++i) {
      ls += x[i];
      lmn = std::min(lmn, double(x[i]));
      lmx = std::max(lmx, double(x[i]));
    }
    std::lock_guard<std::mutex> lock(m);
    sum += ls;
    mn = std::min(mn, lmn);
    mx = std::max(mx, lmx);
  });
  const double mean = sum / double(count);
  double ss = 0;
  parallel_for(count, 1 << 16, [&](int64_t i0, int64_t i1) {
    double l = 0;
    for (int64_t i = i0; i < i1; ++i) l += (x[i] - mean) * (x[i] - mean);
    std::lock_guard<std::mutex> lock(m);
    ss += l;
  });
  s.mean = mean;
  s.std = std::sqrt(ss / double(count));
  s.min = mn;
  s.max = mx;
  return s;
}

}  // namespace tf
