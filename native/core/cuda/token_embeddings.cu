// BERT's embedding sum and its backward, twins of cpu/token_embeddings.cpp and the
// embedding part of cpu/text_backward.cpp. The forward adds the three rows in the CPU's
// order; the backward adds into each table row in the CPU's row order (the word and
// token-type tables through scatter_add_rows_indexed, positions by a loop over the batch
// per position), so both come out bit-identical to the CPU.
#include "launch.cuh"
#include "text_kernels.h"

namespace tf::cuda {

namespace {

__global__ void token_embeddings_forward_kernel(float* out, const int32_t* ids, const int32_t* type_ids,
                                                const float* word, const float* position, const float* type,
                                                int64_t rows, int64_t tokens, int64_t channels) {
  TF_GRID_STRIDE(i, rows * channels) {
    const int64_t r = i / channels, c = i % channels, t = r % tokens;
    const int64_t kind = type_ids ? type_ids[r] : 0;
    out[i] = word[int64_t(ids[r]) * channels + c] + position[t * channels + c] + type[kind * channels + c];
  }
}

// dposition[t] += the rows (b, t) for b = 0, 1, ... in order: one thread per (t, column).
__global__ void position_grad_kernel(float* dposition, const float* dout, int64_t batch, int64_t tokens,
                                     int64_t channels) {
  TF_GRID_STRIDE(i, tokens * channels) {
    const int64_t t = i / channels, c = i % channels;
    float acc = dposition[i];
    for (int64_t b = 0; b < batch; ++b) acc += dout[(b * tokens + t) * channels + c];
    dposition[i] = acc;
  }
}

}  // namespace

void token_embeddings_forward(float* out, const int32_t* ids, const int32_t* type_ids, const float* word,
                              const float* position, const float* type, int64_t batch, int64_t tokens,
                              int64_t channels, cudaStream_t stream) {
  const int64_t rows = batch * tokens;
  if (rows * channels <= 0) return;
  token_embeddings_forward_kernel<<<grid_for(rows * channels), kThreads, 0, stream>>>(
      out, ids, type_ids, word, position, type, rows, tokens, channels);
  TF_CUDA_CHECK_LAUNCH();
}

void token_embeddings_backward(float* dword, float* dposition, float* dtype, const float* dout, const int32_t* ids,
                               const int32_t* type_ids, int64_t batch, int64_t tokens, int64_t channels,
                               cudaStream_t stream) {
  const int64_t rows = batch * tokens;
  if (rows * channels <= 0) return;
  scatter_add_rows_indexed(dword, dout, ids, rows, channels, stream);
  position_grad_kernel<<<grid_for(tokens * channels), kThreads, 0, stream>>>(dposition, dout, batch, tokens,
                                                                             channels);
  TF_CUDA_CHECK_LAUNCH();
  // Without type ids every token is of type 0: the null index sends every row there.
  scatter_add_rows_indexed(dtype, dout, type_ids, rows, channels, stream);
}

}  // namespace tf::cuda
