// Turns CUDA runtime errors into tf::Error with the failing call named.
#pragma once

#include <cuda_runtime.h>

#include <string>

#include "../error.h"

#define TF_CUDA_CHECK(call)                                                                              \
  do {                                                                                                   \
    cudaError_t tf_err_ = (call);                                                                        \
    if (tf_err_ != cudaSuccess)                                                                          \
      throw ::tf::Error(std::string("CUDA error in ") + #call + ": " + cudaGetErrorString(tf_err_));    \
  } while (0)

// Checks the launch of the kernel just queued (bad configuration, missing device code).
#define TF_CUDA_CHECK_LAUNCH() TF_CUDA_CHECK(cudaGetLastError())
