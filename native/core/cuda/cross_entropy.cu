// Cross-entropy of logits against integer labels, twins of cpu/cross_entropy.cpp: the
// per-sample loss (forward), and the training loss with label smoothing together with
// its gradient (backward); and BERT's version (cpu/softmax_cross_entropy.cpp), which
// also reports each row's argmax and leaves NaN where the label is kIgnoreLabel. A warp
// per row, everything in float64 as on the CPU; the sums run in another order, so
// losses agree within float64 rounding before the cast to float32 (usually
// bit-identical, not guaranteed). A label outside [0, classes) is recorded on the device
// (the smallest such row) and reported after the kernel with the CPU's message.
#include <cstdint>
#include <string>

#include "../backend.h"
#include "encoder_kernels.h"
#include "launch.cuh"
#include "text_kernels.h"

namespace tf::cuda {

namespace {

constexpr int kWarps = kThreads / 32;

struct RowStats {
  double max, sum, zsum;  // max logit, sum exp(z - max), sum of logits
};

__device__ RowStats row_stats(const float* z, int64_t classes, int lane) {
  double m = -INFINITY;
  for (int64_t c = lane; c < classes; c += 32) m = fmax(m, double(z[c]));
  m = warp_max(m);
  double s = 0.0, zs = 0.0;
  for (int64_t c = lane; c < classes; c += 32) {
    s += exp(double(z[c]) - m);
    zs += z[c];
  }
  return {m, warp_sum(s), warp_sum(zs)};
}

// The label of this warp's row r; false when there is no such row, or (after recording
// the first such row in bad_row) when the label is out of range.
__device__ __forceinline__ bool row_label(int64_t r, int lane, const int32_t* labels, int64_t rows, int64_t classes,
                                          unsigned long long* bad_row, int32_t& label) {
  if (r >= rows) return false;
  label = labels[r];
  if (label >= 0 && label < classes) return true;
  if (lane == 0) atomicMin(bad_row, (unsigned long long)r);
  return false;
}

__global__ void cross_entropy_forward_kernel(float* losses, const float* logits, const int32_t* labels, int64_t rows,
                                             int64_t classes, unsigned long long* bad_row) {
  const int64_t r = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  int32_t label;
  if (!row_label(r, lane, labels, rows, classes, bad_row, label)) return;
  const float* z = logits + r * classes;
  const RowStats st = row_stats(z, classes, lane);
  if (lane == 0) losses[r] = float(st.max + log(st.sum) - double(z[label]));
}

__global__ void cross_entropy_backward_kernel(float* dlogits, float* losses, const float* logits,
                                              const int32_t* labels, int64_t rows, int64_t classes, double e,
                                              double scale, unsigned long long* bad_row) {
  const int64_t r = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  int32_t label;
  if (!row_label(r, lane, labels, rows, classes, bad_row, label)) return;
  const float* z = logits + r * classes;
  const RowStats st = row_stats(z, classes, lane);
  const double lse = st.max + log(st.sum), off = e / double(classes);
  if (lane == 0) losses[r] = float(lse - (1.0 - e) * double(z[label]) - e * st.zsum / double(classes));
  float* dz = dlogits + r * classes;
  for (int64_t c = lane; c < classes; c += 32) {
    const double target = (c == label ? 1.0 - e : 0.0) + off;
    dz[c] = float(scale * (exp(double(z[c]) - st.max) / st.sum - target));
  }
}

// The first index of the row's largest logit, as the CPU's scan finds it: each lane
// scans its columns in order, then ties between lanes go to the smaller index.
__device__ int64_t row_argmax(const float* z, int64_t classes, int lane) {
  float best = -INFINITY;
  int64_t at = lane < classes ? lane : INT64_MAX;
  if (lane < classes) best = z[lane];
  for (int64_t c = lane + 32; c < classes; c += 32)
    if (z[c] > best) best = z[c], at = c;
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) {
    const float other = __shfl_xor_sync(0xffffffffu, best, o);
    const int64_t other_at = __shfl_xor_sync(0xffffffffu, at, o);
    if (other > best || (other == best && other_at < at)) best = other, at = other_at;
  }
  return at;
}

__global__ void softmax_cross_entropy_kernel(float* losses, int32_t* predictions, const float* logits,
                                             const int32_t* labels, int64_t rows, int64_t classes,
                                             unsigned long long* bad_row) {
  const int64_t r = blockIdx.x * int64_t(kWarps) + threadIdx.x / 32;
  const int lane = threadIdx.x & 31;
  if (r >= rows) return;
  const int32_t label = labels ? labels[r] : kIgnoreLabel;
  if (label != kIgnoreLabel && (label < 0 || label >= classes)) {
    if (lane == 0) atomicMin(bad_row, (unsigned long long)r);
    return;
  }
  const float* z = logits + r * classes;
  const int64_t best = row_argmax(z, classes, lane);
  if (predictions && lane == 0) predictions[r] = int32_t(best);
  if (!losses || !labels) return;
  if (label == kIgnoreLabel) {
    if (lane == 0) losses[r] = __int_as_float(0x7fc00000);  // the CPU's quiet NaN
    return;
  }
  const RowStats st = row_stats(z, classes, lane);
  if (lane == 0) losses[r] = float(st.max + log(st.sum) - double(z[label]));
}

// Throws the CPU's error when a kernel flagged a bad label; `what` names a row as the
// CPU twin does ("sample", "row").
void check_labels(const unsigned long long* bad_row, const int32_t* labels, int64_t rows, int64_t classes,
                  cudaStream_t stream, const char* what = "sample") {
  unsigned long long bad = 0;
  download_now(&bad, bad_row, sizeof bad, stream);
  if (bad >= (unsigned long long)rows) return;
  int32_t label = 0;
  download_now(&label, labels + bad, sizeof label, stream);
  throw Error("cross entropy: label " + std::to_string(label) + " of " + what + " " + std::to_string(bad) +
              " is outside [0, " + std::to_string(classes) + ")");
}

}  // namespace

void cross_entropy_forward(float* losses, const float* logits, const int32_t* labels, int64_t rows, int64_t classes,
                           cudaStream_t stream) {
  if (rows <= 0) return;
  Scratch bad(sizeof(unsigned long long), stream);
  TF_CUDA_CHECK(cudaMemsetAsync(bad.as<void>(), 0xff, sizeof(unsigned long long), stream));
  cross_entropy_forward_kernel<<<blocks_of(rows, kWarps), kThreads, 0, stream>>>(losses, logits, labels, rows, classes,
                                                                                 bad.as<unsigned long long>());
  TF_CUDA_CHECK_LAUNCH();
  check_labels(bad.as<unsigned long long>(), labels, rows, classes, stream);
}

void cross_entropy_backward(float* dlogits, float* losses, const float* logits, const int32_t* labels, int64_t rows,
                            int64_t classes, float label_smoothing, float scale, cudaStream_t stream) {
  if (rows <= 0) return;
  Scratch bad(sizeof(unsigned long long), stream);
  TF_CUDA_CHECK(cudaMemsetAsync(bad.as<void>(), 0xff, sizeof(unsigned long long), stream));
  cross_entropy_backward_kernel<<<blocks_of(rows, kWarps), kThreads, 0, stream>>>(
      dlogits, losses, logits, labels, rows, classes, double(label_smoothing), double(scale),
      bad.as<unsigned long long>());
  TF_CUDA_CHECK_LAUNCH();
  check_labels(bad.as<unsigned long long>(), labels, rows, classes, stream);
}

void softmax_cross_entropy_forward(float* losses, int32_t* predictions, const float* logits, const int32_t* labels,
                                   int64_t rows, int64_t classes, cudaStream_t stream) {
  if (rows <= 0) return;
  Scratch bad(sizeof(unsigned long long), stream);
  TF_CUDA_CHECK(cudaMemsetAsync(bad.as<void>(), 0xff, sizeof(unsigned long long), stream));
  softmax_cross_entropy_kernel<<<blocks_of(rows, kWarps), kThreads, 0, stream>>>(
      losses, predictions, logits, labels, rows, classes, bad.as<unsigned long long>());
  TF_CUDA_CHECK_LAUNCH();
  // Without labels there is nothing to check, and no reason to wait.
  if (labels) check_labels(bad.as<unsigned long long>(), labels, rows, classes, stream, "row");
}

}  // namespace tf::cuda
