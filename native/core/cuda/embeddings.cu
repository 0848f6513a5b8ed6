// The ViT embedding around its one GEMM, twins of cpu/patch_embed.cpp: patches cut out
// of the images (im2col for a stride == kernel convolution), the token sequence
// assembled from CLS, patch projections and positions, and that assembly's backward.
// Pure data movement and one float add per element, and the batch sums of the backward
// in float64 in batch order as on the CPU: all bit-identical to the CPU.
#include "encoder_kernels.h"
#include "launch.cuh"

namespace tf::cuda {

namespace {

// One thread per patch element; consecutive threads walk a patch row, which is a
// contiguous run of an image row.
__global__ void patch_extract_kernel(float* patches, const float* images, int64_t batch, int64_t channels,
                                     int64_t size, int64_t p) {
  const int64_t grid = size / p, per_patch = channels * p * p;
  const int64_t total = batch * grid * grid * per_patch;
  TF_GRID_STRIDE(idx, total) {
    const int64_t e = idx % per_patch, patch = idx / per_patch;
    const int64_t c = e / (p * p), y = (e / p) % p, x = e % p;
    const int64_t gx = patch % grid, gy = (patch / grid) % grid, b = patch / (grid * grid);
    patches[idx] = images[((b * channels + c) * size + gy * p + y) * size + gx * p + x];
  }
}

__global__ void embeddings_assemble_kernel(float* out, const float* patch_out, const float* cls, const float* pos,
                                           int64_t batch, int64_t patches, int64_t channels) {
  const int64_t tokens = patches + 1;
  TF_GRID_STRIDE(idx, batch * tokens * channels) {
    const int64_t c = idx % channels, t = (idx / channels) % tokens, b = idx / (channels * tokens);
    const float src = t == 0 ? cls[c] : patch_out[(b * patches + t - 1) * channels + c];
    out[idx] = src + pos[t * channels + c];
  }
}

__global__ void embeddings_patch_rows_kernel(float* dpatch_out, const float* dembed, int64_t batch, int64_t patches,
                                             int64_t channels) {
  const int64_t tokens = patches + 1;
  TF_GRID_STRIDE(idx, batch * patches * channels) {
    const int64_t c = idx % channels, p = (idx / channels) % patches, b = idx / (channels * patches);
    dpatch_out[idx] = dembed[(b * tokens + 1 + p) * channels + c];
  }
}

// dpos[t] += sum over the batch of token t's rows, dcls += that of t = 0; float64 sums
// over the batch in order, as the CPU adds them.
__global__ void embeddings_position_grad_kernel(float* dcls, float* dpos, const float* dembed, int64_t batch,
                                                int64_t patches, int64_t channels) {
  const int64_t tokens = patches + 1;
  TF_GRID_STRIDE(idx, tokens * channels) {
    const int64_t c = idx % channels, t = idx / channels;
    double acc = 0.0;
    for (int64_t b = 0; b < batch; ++b) acc += dembed[(b * tokens + t) * channels + c];
    dpos[idx] += float(acc);
    if (t == 0) dcls[c] += float(acc);
  }
}

}  // namespace

void patch_extract(float* patches, const float* images, int64_t batch, int64_t channels, int64_t image_size,
                   int64_t patch_size, cudaStream_t stream) {
  const int64_t grid = image_size / patch_size;
  const int64_t total = batch * grid * grid * channels * patch_size * patch_size;
  if (total <= 0) return;
  patch_extract_kernel<<<grid_for(total), kThreads, 0, stream>>>(patches, images, batch, channels, image_size,
                                                                 patch_size);
  TF_CUDA_CHECK_LAUNCH();
}

void embeddings_assemble(float* out, const float* patch_out, const float* cls, const float* pos, int64_t batch,
                         int64_t patches, int64_t channels, cudaStream_t stream) {
  const int64_t total = batch * (patches + 1) * channels;
  if (total <= 0) return;
  embeddings_assemble_kernel<<<grid_for(total), kThreads, 0, stream>>>(out, patch_out, cls, pos, batch, patches,
                                                                       channels);
  TF_CUDA_CHECK_LAUNCH();
}

void embeddings_backward(float* dpatch_out, float* dcls, float* dpos, const float* dembed, int64_t batch,
                         int64_t patches, int64_t channels, cudaStream_t stream) {
  if (channels <= 0) return;
  if (batch * patches > 0) {
    embeddings_patch_rows_kernel<<<grid_for(batch * patches * channels), kThreads, 0, stream>>>(
        dpatch_out, dembed, batch, patches, channels);
    TF_CUDA_CHECK_LAUNCH();
  }
  embeddings_position_grad_kernel<<<grid_for((patches + 1) * channels), kThreads, 0, stream>>>(
      dcls, dpos, dembed, batch, patches, channels);
  TF_CUDA_CHECK_LAUNCH();
}

}  // namespace tf::cuda
