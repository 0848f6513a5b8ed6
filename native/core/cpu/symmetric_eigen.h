// Eigen-decomposition of a symmetric float64 matrix, for the fusion's PCA option: LAPACK's
// divide-and-conquer dsyevd from the linked OpenBLAS when there is one, else a cyclic
// Jacobi iteration (slower, O(n^3) per sweep, but needing nothing).
#pragma once

#include <cstdint>

namespace tf::cpu {

// a: n x n, symmetric (only read). Writes the eigenvalues in ascending order to w (n) and
// the matching unit eigenvectors as the rows of v (n x n): row i belongs to w[i].
// Checks nothing beyond n >= 0; NaN in, NaN out.
void symmetric_eigen(const double* a, int64_t n, double* w, double* v);

// The portable path, whatever is linked (the tests compare the two).
void symmetric_eigen_jacobi(const double* a, int64_t n, double* w, double* v);

// True when symmetric_eigen goes through LAPACK.
bool symmetric_eigen_uses_lapack();

}  // namespace tf::cpu
