// Argument checks shared by the OT entry points, with messages that name the function,
// the argument and the offending index.
#pragma once

#include <cstdint>

namespace tf::ot {

// Throws tf::Error unless every entry of x (k entries) is finite and >= 0; returns the sum.
double check_histogram(const double* x, int64_t k, const char* fn, const char* name);

// Throws tf::Error naming the first non-finite entry of the n x m cost matrix; returns its
// smallest entry (+inf when empty). One parallel pass.
double check_cost_matrix(const double* c, int64_t n, int64_t m, const char* fn);

}  // namespace tf::ot
