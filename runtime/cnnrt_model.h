/* The contract between the code cnnc generates and libcnnrt.
 *
 * A compiled model's object file defines one constant `cnnc_model_desc`
 * (this layout), the weights as constant data, and `cnnc_run`, the kernel call
 * sequence. libcnnrt, linked into the same library, implements the rest of the
 * public API (cnnc.h) from the descriptor. The compiler emits these structs
 * with LLVM; a unit test checks that both sides agree on every offset.
 *
 * Version the ABI when this layout changes (CNNRT_ABI_VERSION). */
#ifndef CNNRT_MODEL_H
#define CNNRT_MODEL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CNNRT_ABI_VERSION 2
#define CNNRT_MAX_RANK 4

/* Where a buffer's memory lives. */
enum cnnrt_space {
  CNNRT_ARENA = 0,   /* offset into the instance's arena */
  CNNRT_WEIGHTS = 1, /* offset into the weights (embedded or loaded) */
  CNNRT_INPUT = 2    /* the caller's input `index`, at `offset` bytes */
};

/* One Halide buffer a kernel reads or writes: float32, dims innermost first
 * (W, H, C, N for NCHW), extents and strides in elements. */
typedef struct cnnrt_buffer_desc {
  int64_t offset;
  int32_t space;
  int32_t index;
  int32_t rank;
  int32_t extent[CNNRT_MAX_RANK];
  int32_t stride[CNNRT_MAX_RANK];
} cnnrt_buffer_desc;

/* A model input or output: its name, shape (outermost first, as in the spec)
 * and, for outputs, where the result lies in the arena. */
typedef struct cnnrt_tensor_desc {
  const char* name;
  int32_t rank;
  int64_t shape[CNNRT_MAX_RANK];
  int64_t bytes;
  int64_t arena_offset;
} cnnrt_tensor_desc;

/* A parameter tensor inside the weights blob (for external weights files). */
typedef struct cnnrt_weight_desc {
  const char* name;
  int32_t rank;
  int64_t shape[CNNRT_MAX_RANK];
  int64_t offset;
  int64_t bytes;
} cnnrt_weight_desc;

/* A kernel, for profiles and error messages. */
typedef struct cnnrt_kernel_desc {
  const char* name;   /* the layer it computes: "layer1.0.conv2" */
  const char* op;     /* "conv2d", ... */
  const char* symbol; /* the Halide function */
  int64_t flops;
} cnnrt_kernel_desc;

typedef struct cnnrt_model_desc {
  int32_t abi_version;
  int32_t num_inputs;
  int32_t num_outputs;
  int32_t num_weights;
  int32_t num_buffers;
  int32_t num_kernels;
  const char* name;
  const char* target;         /* the Halide targets compiled for */
  const char* weights_layout; /* fingerprint of the weights' names, shapes and
                                 layouts; external files must carry it */
  int64_t arena_bytes;
  int64_t weights_bytes;
  const uint8_t* embedded_weights; /* NULL: weights come from a file at create */
  const cnnrt_tensor_desc* inputs;
  const cnnrt_tensor_desc* outputs;
  const cnnrt_weight_desc* weights;
  const cnnrt_buffer_desc* buffers;
  const cnnrt_kernel_desc* kernels;
  /* Training libraries (--mode training): the step updates the weights in
   * place; the inputs cnnc_train_step fills (-1: none). */
  int32_t training;
  int32_t labels_input;
  int32_t lr_input;
  int32_t step_input; /* Adam's 1-based step count */
  int32_t seed_input; /* dropout's seed: two floats holding a uint64's bits */
} cnnrt_model_desc;

/* Defined by the generated object. */
extern const cnnrt_model_desc cnnc_model_desc;

struct halide_buffer_t;
struct cnnc_model;

/* Called by the generated cnnc_run. */
/* Checks the call, binds the inputs, marks the instance busy. Returns the
 * instance's Halide buffers (one per buffer descriptor), or NULL after setting
 * the error (then *status holds it). */
struct halide_buffer_t* cnnrt_run_begin(struct cnnc_model* m, const float* const* inputs,
                                        const size_t* input_bytes, float* const* outputs,
                                        const size_t* output_bytes, int* status);
/* Copies the outputs and ends the run; returns the status of the run. */
int cnnrt_run_end(struct cnnc_model* m, float* const* outputs, int status);
/* Records that kernel `k` returned Halide error `rc`; returns the API status. */
int cnnrt_kernel_failed(struct cnnc_model* m, int32_t k, int32_t rc);
/* Profiling hooks around kernel k (cheap no-ops unless profiling is on). */
void cnnrt_kernel_begin(struct cnnc_model* m, int32_t k);
void cnnrt_kernel_end(struct cnnc_model* m, int32_t k);

#ifdef __cplusplus
}
#endif

#endif /* CNNRT_MODEL_H */
