#include "blas_threads.h"

#ifdef TF_HAVE_OPENBLAS
extern "C" {
void openblas_set_num_threads(int num_threads);
char* openblas_get_config(void);
char* openblas_get_corename(void);
}
#endif

namespace tf {

void set_blas_threads(int n) {
#ifdef TF_HAVE_OPENBLAS
  openblas_set_num_threads(n);
#else
  (void)n;
#endif
}

std::string blas_description() {
#if defined(TF_HAVE_OPENBLAS)
  return std::string(openblas_get_config()) + " (" + openblas_get_corename() + ")";
#elif defined(TF_HAVE_CBLAS)
  return "CBLAS";
#else
  return "none (portable kernel)";
#endif
}

bool blas_linked() {
#ifdef TF_HAVE_CBLAS
  return true;
#else
  return false;
#endif
}

}  // namespace tf
