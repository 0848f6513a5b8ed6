// Inner products between two sets of float32 neuron vectors, accumulated in float64.
// Distances derived as |a|^2 + |b|^2 - 2 a.b lose about log10(|a|^2 / |a - b|^2) digits
// to cancellation; float64 accumulation keeps that harmless for near-duplicate neurons
// (a model fused with a permuted copy of itself), where float32 would not.
#pragma once

#include <cstdint>

#include "ot.h"

namespace tf::ot {

// G[i * ldg + j] = a_i . b_j for every neuron i of a and j of b; a_sq[i] = |a_i|^2 and
// b_sq[j] = |b_j|^2. The features are converted to float64 a slice at a time (so the
// inputs are never copied whole; a slice is up to 2 MiB of the wider side) and
// multiplied with cblas_dgemm when BLAS is linked, each side packed in the order it is
// stored, or with a blocked portable kernel on neuron-major slices. Checks ctx for
// cancellation between slices and between blocks of a large slice's GEMM.
void gram_f64(const NeuronView& a, const NeuronView& b, double* g, int64_t ldg, double* a_sq, double* b_sq,
              TaskContext* ctx);

// c (+)= a * b^T for row-major float64 a (na x k) and b (nb x k): cblas_dgemm when BLAS
// is linked (outside parallel regions), a blocked portable kernel otherwise.
void dgemm_nt(const double* a, int64_t na, const double* b, int64_t nb, int64_t k, double* c, int64_t ldc,
              bool accumulate);

// The same with the products a.b from one float32 GEMM (cpu::gemm: SGEMM through BLAS
// when linked), read in place when each side has a unit stride, widened into g; a_sq and
// b_sq are still accumulated in float64.
void gram_f32(const NeuronView& a, const NeuronView& b, double* g, int64_t ldg, double* a_sq, double* b_sq,
              TaskContext* ctx);

}  // namespace tf::ot
