// Argument checks shared by the OT entry points, with messages that name the function,
// the argument and the offending index.
#pragma once

#include <cstdint>

#include "ot.h"

namespace tf::ot {

// Throws tf::Error unless every entry of x (k entries) is finite and >= 0; returns the sum.
double check_histogram(const double* x, int64_t k, const char* fn, const char* name);

// Throws tf::Error naming the first non-finite entry of the n x m cost matrix; returns its
// smallest entry (+inf when empty). One parallel pass.
double check_cost_matrix(const double* c, int64_t n, int64_t m, const char* fn);

// Throws tf::Error naming the first non-finite of the k floats x ("<fn>: <name>[i] is NaN;
// features must be finite"): a NaN feature would give its neuron a row of the cost that
// the solvers take at face value.
void check_finite_features(const float* x, int64_t k, const char* fn, const char* name);

// The option checks of sinkhorn, on either backend (sizes, reg, limits, epsilon scaling).
void check_sinkhorn_options(int64_t n, int64_t m, const SinkhornOptions& o);

// The argument checks of cost_matrix, on either backend: sizes, data, strides, matching
// feature counts, output stride and finite clip bounds.
void check_cost_matrix_args(const NeuronView& a, const NeuronView& b, const CostOptions& options, int64_t ldo);

}  // namespace tf::ot
