// Whole-matrix reductions over float64 (n x m, row stride ld) device matrices, for the
// cost normalisations and the Sinkhorn input checks. Each waits for the stream and
// returns to the host. Fixed launch shapes and fixed orders: the same bits every run.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>

namespace tf::cuda::ot {

double matrix_max(const double* x, int64_t n, int64_t m, int64_t ld, cudaStream_t stream);
double matrix_sum(const double* x, int64_t n, int64_t m, int64_t ld, cudaStream_t stream);
// The element of rank k (0-based) in ascending order: a radix select over the bits of
// the doubles, eight bits per pass. NaN entries are not supported.
double matrix_select(const double* x, int64_t n, int64_t m, int64_t ld, int64_t k, cudaStream_t stream);

// Facts about a packed (count entries) matrix the Sinkhorn solver checks before it
// starts: the smallest entry, the largest |entry|, and the first non-finite entry.
struct MatrixFacts {
  double min = 0, max_abs = 0;
  int64_t first_nonfinite = -1;  // index into the matrix, -1 when all are finite
};
MatrixFacts matrix_facts(const double* x, int64_t count, cudaStream_t stream);
MatrixFacts matrix_facts(const float* x, int64_t count, cudaStream_t stream);

}  // namespace tf::cuda::ot
