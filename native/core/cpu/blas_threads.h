// What the CPU backend knows about the BLAS it was linked against.
#pragma once

#include <string>

namespace tf {

// Tells OpenBLAS how many threads its GEMMs may use (no-op without OpenBLAS).
void set_blas_threads(int n);
// "OpenBLAS 0.3.21 ... (Haswell)", "CBLAS", or "none (portable kernel)".
std::string blas_description();
// True when GEMM can go through a linked CBLAS.
bool blas_linked();

}  // namespace tf
