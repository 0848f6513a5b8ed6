// The one interface every compute backend implements. Pointers passed to a backend's
// kernels live in that backend's memory (host memory for the CPU, device memory for
// CUDA); matrices are row-major. The CPU backend always exists; the CUDA backend exists
// when the addon was built with nvcc and a usable GPU is present at run time.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace tf {

enum class Device { Cpu, Cuda };

// A token label that asks for no loss (HF's ignore_index): softmax_cross_entropy_forward
// leaves NaN for such rows.
constexpr int32_t kIgnoreLabel = -100;
// Parameters of the training ops (defined in train/train_ops.h).
struct AdamWStep;
struct AugmentParams;
// The activation store's column transforms (activations/activation_transform.h).
enum class ActivationTransform;

const char* device_name(Device d);

class Backend {
 public:
  virtual ~Backend() = default;

  virtual Device device() const = 0;
  // One line for humans: "cpu: OpenBLAS 0.3.21 (Haswell), 2 threads".
  virtual std::string describe() const = 0;
  // Whether a padded BERT batch runs faster packed (real tokens only, one attention per
  // sample) than whole with a key mask. True where time follows the rows computed (the
  // CPU); the CUDA backend says false: there the per-sample launches cost more than the
  // padding's rows (bert_batch_starts).
  virtual bool packs_padded_batches() const { return true; }

  // --- memory -------------------------------------------------------------------------
  virtual void* allocate(size_t bytes) = 0;
  virtual void deallocate(void* ptr) noexcept = 0;
  virtual void copy_from_host(void* dst, const void* host_src, size_t bytes) = 0;
  virtual void copy_to_host(void* host_dst, const void* src, size_t bytes) = 0;
  // Waits until every kernel queued on this backend has finished.
  virtual void synchronize() = 0;

  // --- kernels ------------------------------------------------------------------------
  // C[m x n] = alpha * op(A) * op(B) + beta * C, op(A) is m x k, op(B) is k x n.
  // lda/ldb/ldc are row strides of A, B and C as stored. With beta == 0, C is not read.
  virtual void gemm(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                    const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
                    int64_t ldc) = 0;

  // GELU with the exact erf form used by Hugging Face ("gelu"):
  // out = 0.5 * x * (1 + erf(x / sqrt(2))).
  virtual void gelu_forward(float* out, const float* inp, int64_t n) = 0;
  // dinp = dout * gelu'(inp), overwriting dinp.
  virtual void gelu_backward(float* dinp, const float* inp, const float* dout, int64_t n) = 0;

  // y = alpha * x + beta * y: the primitive of weight aggregation (weighted sums of
  // aligned parameters). With beta == 0, y is not read.
  virtual void axpby(float* y, const float* x, float alpha, float beta, int64_t n) = 0;

  // sum_i x_i y_i, accumulated in float64 (plane geometry between models, norms).
  virtual double dot(const float* x, const float* y, int64_t n) = 0;

  // --- transformer encoder forward ----------------------------------------------------
  // Semantics in cpu/encoder_kernels.h. The base versions throw "<op> is not implemented
  // on <device> yet", so a backend compiles before it has its own twin of every op.
  virtual void layernorm_forward(float* out, float* mean, float* rstd, const float* inp, const float* weight,
                                 const float* bias, int64_t rows, int64_t cols, float eps);
  virtual void attention_forward(float* out, float* att, const float* qkv, int64_t batch, int64_t tokens,
                                 int64_t channels, int64_t heads, int64_t queries);
  virtual void patch_extract(float* patches, const float* images, int64_t batch, int64_t channels,
                             int64_t image_size, int64_t patch_size);
  virtual void embeddings_assemble(float* out, const float* patch_out, const float* cls, const float* pos,
                                   int64_t batch, int64_t patches, int64_t channels);
  virtual void add_bias(float* x, const float* bias, int64_t rows, int64_t cols);
  virtual void bias_gelu_forward(float* pre, float* out, const float* bias, int64_t rows, int64_t cols);
  virtual void bias_residual_forward(float* out, float* proj, const float* bias, const float* residual,
                                     int64_t rows, int64_t cols);
  virtual void gather_rows(float* dst, const float* src, int64_t rows, int64_t cols, int64_t src_stride);
  virtual void scale_shift_columns(float* x, const float* scale, const float* shift, int64_t rows, int64_t cols);
  virtual void cross_entropy_forward(float* losses, const float* logits, const int32_t* labels, int64_t rows,
                                     int64_t classes);

  // --- text encoder (BERT) forward ----------------------------------------------------
  // Semantics in cpu/text_kernels.h; base versions throw as the encoder ops' do.
  virtual void token_embeddings_forward(float* out, const int32_t* ids, const int32_t* type_ids, const float* word,
                                        const float* position, const float* type, int64_t batch, int64_t tokens,
                                        int64_t channels);
  virtual void attention_masked_forward(float* out, float* att, const float* qkv, const uint8_t* key_mask,
                                        int64_t batch, int64_t tokens, int64_t channels, int64_t heads,
                                        int64_t queries);
  virtual void bias_tanh_forward(float* pre, float* out, const float* bias, int64_t rows, int64_t cols);
  virtual void gather_rows_indexed(float* dst, const float* src, const int32_t* index, int64_t rows, int64_t cols);
  virtual void softmax_cross_entropy_forward(float* losses, int32_t* predictions, const float* logits,
                                             const int32_t* labels, int64_t rows, int64_t classes);
  // Their backward twins (training BERT), same file.
  virtual void token_embeddings_backward(float* dword, float* dposition, float* dtype, const float* dout,
                                         const int32_t* ids, const int32_t* type_ids, int64_t batch, int64_t tokens,
                                         int64_t channels);
  virtual void tanh_backward(float* dpre, const float* out, const float* dout, int64_t n);
  virtual void scatter_add_rows_indexed(float* dst, const float* src, const int32_t* index, int64_t rows,
                                        int64_t cols);

  // --- transformer encoder backward and training ----------------------------------------
  // Semantics in cpu/encoder_kernels.h and cpu/train_kernels.h; base versions throw like
  // the forward ops above. Parameter gradients always accumulate (+=), so micro-batches
  // add into one gradient buffer.
  virtual void zero(float* x, int64_t n);
  virtual void layernorm_backward(float* dinp, float* dweight, float* dbias, const float* dout, const float* inp,
                                  const float* mean, const float* rstd, const float* weight, int64_t rows,
                                  int64_t cols);
  virtual void attention_backward(float* dqkv, const float* dout, const float* qkv, const float* att, int64_t batch,
                                  int64_t tokens, int64_t channels, int64_t heads);
  virtual void embeddings_backward(float* dpatch_out, float* dcls, float* dpos, const float* dembed, int64_t batch,
                                   int64_t patches, int64_t channels);
  virtual void bias_backward(float* dbias, const float* dout, int64_t rows, int64_t cols);
  virtual void scatter_add_rows(float* dst, const float* src, int64_t rows, int64_t cols, int64_t dst_stride);
  virtual void cross_entropy_backward(float* dlogits, float* losses, const float* logits, const int32_t* labels,
                                      int64_t rows, int64_t classes, float label_smoothing, float scale);
  virtual double sum_squares(const float* x, int64_t n);
  virtual void adamw_update(float* params, float* m, float* v, const float* grads, int64_t n,
                            const AdamWStep& step);
  virtual void augment_images(float* out, const float* images, int64_t batch, int64_t channels, int64_t image_size,
                              const AugmentParams& params);

  // --- activation store: capture and transforms where the activations live --------------
  // Semantics in cpu/activation_kernels.h; base versions throw like the ops above.
  virtual void gather_mean_rows(float* dst, const float* src, int64_t src_stride, int64_t cols,
                                const int32_t* offsets, const int32_t* indices, int64_t segments);
  virtual void activation_transform(float* x, int64_t rows, int64_t cols, ActivationTransform t);

 protected:
  [[noreturn]] void not_implemented(const char* op) const;
};

// The CPU backend (always available).
Backend& cpu_backend();

// True when the addon was compiled with the CUDA backend.
bool cuda_compiled();
// True when the CUDA backend is compiled in and a GPU is usable right now. Never throws.
bool cuda_available();
// Why CUDA is not available ("not compiled", "no CUDA-capable device", ...), or "" if it is.
std::string cuda_unavailable_reason();
// The CUDA backend; throws tf::Error when cuda_available() is false.
Backend& cuda_backend();

// What the machine's first GPU is, for `otfuse doctor` and the benchmarks. `present` is
// false (and the rest empty) without a CUDA build or a usable GPU. Never throws.
struct GpuInfo {
  bool present = false;
  std::string name;
  int compute_major = 0, compute_minor = 0;
  uint64_t memory_bytes = 0;
  int multiprocessors = 0;
  int driver_version = 0;   // CUDA driver API version, e.g. 12040 for 12.4 (0: no driver)
  int runtime_version = 0;  // the CUDA runtime linked into the build
};
GpuInfo cuda_device_info();
// The cuBLAS library the CUDA backend would load ("libcublas.so.12"), or "" when none can
// be opened (the backend then uses its own GEMM kernels). Probes with dlopen only, so it
// answers on machines without a GPU too; "" in a build without CUDA.
std::string cublas_library();

// "auto" picks CUDA when available, else the CPU. Throws on an unknown name or when
// "cuda" is requested and unavailable.
Backend& backend_for(const std::string& device_name);

// Throws tf::Error unless the GEMM arguments describe valid row-major matrices.
void check_gemm_args(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, int64_t lda, int64_t ldb,
                     int64_t ldc);

// Owns a buffer in a backend's memory.
class DeviceBuffer {
 public:
  DeviceBuffer(Backend& be, size_t bytes) : be_(&be), bytes_(bytes), ptr_(bytes ? be.allocate(bytes) : nullptr) {}
  ~DeviceBuffer() {
    if (ptr_) be_->deallocate(ptr_);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  DeviceBuffer(DeviceBuffer&& o) noexcept : be_(o.be_), bytes_(o.bytes_), ptr_(o.ptr_) { o.ptr_ = nullptr; }

  template <typename T = void>
  T* get() const { return static_cast<T*>(ptr_); }
  size_t bytes() const { return bytes_; }
  void upload(const void* host) { be_->copy_from_host(ptr_, host, bytes_); }
  void download(void* host) const { be_->copy_to_host(host, ptr_, bytes_); }

 private:
  Backend* be_;
  size_t bytes_;
  void* ptr_;
};

// Many device arrays in one allocation (a model's activation or gradient buffers): want()
// lists them, allocate() makes one DeviceBuffer and points each into it. Every array
// starts on a 64-byte boundary and has at least one slot; integer and byte arrays take
// float-sized slots.
class DeviceArena {
 public:
  template <typename T>
  void want(T** target, int64_t count) {
    static_assert(sizeof(T) <= sizeof(float), "arena slots are float-sized");
    targets_.push_back([target](float* at) { *target = reinterpret_cast<T*>(at); });
    sizes_.push_back((std::max<int64_t>(count, 1) + 15) / 16 * 16);
  }
  std::unique_ptr<DeviceBuffer> allocate(Backend& be) const {
    int64_t total = 0;
    for (int64_t s : sizes_) total += s;
    auto memory = std::make_unique<DeviceBuffer>(be, size_t(total) * sizeof(float));
    float* p = memory->get<float>();
    for (size_t i = 0; i < targets_.size(); ++i) {
      targets_[i](p);
      p += sizes_[i];
    }
    return memory;
  }

 private:
  std::vector<std::function<void(float*)>> targets_;
  std::vector<int64_t> sizes_;
};

}  // namespace tf
