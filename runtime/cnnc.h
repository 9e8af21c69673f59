/* The C API of every model compiled by cnnc (`cnnc compile NET -o libNAME.so`).
 *
 * Every compiled library exports these same functions, so one loader serves
 * all models; NAME.h adds the model's own constants (shapes, sizes).
 *
 *   cnnc_model* m = cnnc_create(NULL);              // embedded weights
 *   if (!m) { fprintf(stderr, "%s\n", cnnc_last_error(NULL)); ... }
 *   const float* in[] = {image};  float* out[] = {scores};
 *   if (cnnc_run(m, in, out) != CNNC_OK) fprintf(stderr, "%s\n", cnnc_last_error(m));
 *   cnnc_destroy(m);
 *
 * Tensors are float32, C order (NCHW), of the sizes given by the
 * introspection functions or NAME.h. A model instance must not be used by two
 * threads at once (a second concurrent call returns CNNC_ERR_BUSY); several
 * instances may run in parallel. No function aborts or throws: failures
 * return a status and set the text that cnnc_last_error() returns. Results do
 * not depend on the number of threads. */
#ifndef CNNC_H
#define CNNC_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define CNNC_ABI 3      /* 2: training libraries; 3: cnnc_kernel_isa and CNNC_ISA */
#define CNNC_MAX_RANK 4 /* inputs and outputs have at most 4 dims */

/* Status codes. */
#define CNNC_OK 0
#define CNNC_ERR_NULL 1       /* a required pointer was NULL */
#define CNNC_ERR_SIZE 2       /* a byte size does not match the tensor */
#define CNNC_ERR_NAME 3       /* no input or output with that index or name */
#define CNNC_ERR_HANDLE 4     /* not a live model (destroyed, or not a cnnc model) */
#define CNNC_ERR_BUSY 5       /* the instance is running in another thread */
#define CNNC_ERR_WEIGHTS 6    /* the weights file is missing, damaged or for another model */
#define CNNC_ERR_NOMEM 7      /* out of memory */
#define CNNC_ERR_KERNEL 8     /* a kernel failed (the text names it) */
#define CNNC_ERR_ARG 9        /* an argument is out of range */
#define CNNC_ERR_IO 10        /* a file could not be written */
#define CNNC_ERR_NONFINITE 11 /* a training step's loss was not finite: no update was made */

typedef struct cnnc_model cnnc_model;

/* The ABI this library implements (CNNC_ABI), its model's name, and the
 * targets its kernels were compiled for. */
int cnnc_abi_version(void);
const char* cnnc_model_name(void);
const char* cnnc_target(void);

/* Introspection. Indexes run from 0; out-of-range indexes give NULL or -1. */
int cnnc_num_inputs(void);
int cnnc_num_outputs(void);
const char* cnnc_input_name(int i);
const char* cnnc_output_name(int i);
int cnnc_input_rank(int i);
int cnnc_output_rank(int i);
/* dims[0 .. rank-1] of the shape; returns the rank, or -1. */
int cnnc_input_shape(int i, int64_t* dims);
int cnnc_output_shape(int i, int64_t* dims);
size_t cnnc_input_bytes(int i);
size_t cnnc_output_bytes(int i);
size_t cnnc_arena_bytes(void); /* working memory of one instance */
size_t cnnc_weights_bytes(void);
int cnnc_weights_embedded(void); /* 1: weights inside the library; 0: pass a file to cnnc_create */

/* Creates an instance. weights_path: NULL for embedded weights (ignored when
 * the weights are embedded), else the safetensors file `cnnc compile
 * --weights external` wrote beside the library, or another in the same
 * kernel layout (checked: the layout fingerprint, every tensor present, F32,
 * of the model's shape, inside the file). Returns NULL on failure; then
 * cnnc_last_error(NULL) says why (per thread). */
cnnc_model* cnnc_create(const char* weights_path);
/* The same, with caller-provided working memory of cnnc_arena_bytes() bytes,
 * 64-byte aligned, which must outlive the instance. */
cnnc_model* cnnc_create_with_arena(const char* weights_path, void* arena, size_t arena_bytes);
void cnnc_destroy(cnnc_model* m);

/* Runs the network. inputs[i] and outputs[i] point at the tensors of input /
 * output i. cnnc_run_sized also checks the byte size of each (pass NULL for
 * either array to skip that check). */
int cnnc_run(cnnc_model* m, const float* const* inputs, float* const* outputs);
int cnnc_run_sized(cnnc_model* m, const float* const* inputs, const size_t* input_bytes,
                   float* const* outputs, const size_t* output_bytes);

/* Why the last call on m failed; m = NULL: the last failure of this thread
 * outside an instance (cnnc_create, or a CNNC_ERR_BUSY / CNNC_ERR_HANDLE /
 * NULL-model cnnc_run, which must not write into an instance another thread
 * uses). Never NULL. */
const char* cnnc_last_error(const cnnc_model* m);

/* Threads used by the kernels (default: CNNC_NUM_THREADS, else all cores).
 * Takes effect for runs that start afterwards. Returns the previous value,
 * or -1 if n is not in 1..1024. */
int cnnc_set_num_threads(int n);

/* Profiling: per-kernel wall time of the runs made while enabled. */
int cnnc_profile(cnnc_model* m, int enable);
int cnnc_num_kernels(void);
const char* cnnc_kernel_name(int k);
const char* cnnc_kernel_op(int k);
int64_t cnnc_kernel_flops(int k);
double cnnc_kernel_seconds(const cnnc_model* m, int k); /* summed over profiled runs */
int64_t cnnc_profiled_runs(const cnnc_model* m);

/* Which ISA variant of the kernels runs: "avx512", "avx2" or "sse41" (""
 * before m's first run). A library compiled for several targets (the
 * default) runs the most capable one this CPU supports, chosen once per
 * process at each kernel's first call. The environment variable
 * CNNC_ISA=avx2 (or sse41, avx512) caps it, so one machine can run every
 * variant; cnnc_create reads it, and fails when it is not one of these
 * names, when the library has no variant at or below it, or when an earlier
 * instance in the process saw another value. */
const char* cnnc_kernel_isa(const cnnc_model* m);

/* Training libraries (`cnnc compile NET --mode training`): the library runs
 * one optimizer step per call: forward, loss, backward and the update, which
 * overwrites the weights and the optimizer state inside the instance.
 *
 *   cnnc_model* m = cnnc_create(NULL);             // or a file cnnc_save_weights wrote
 *   const float* in[] = {images};                  // the network's inputs, batch as compiled
 *   float loss;
 *   for (...) cnnc_train_step(m, in, labels, lr, &loss, NULL);
 *   cnnc_save_weights(m, "trained.safetensors");   // weights + optimizer state + step count
 *
 * labels: one float per image holding its class index (cross-entropy), or a
 * target of the prediction's shape (mean-squared error). The momentum, weight
 * decay and betas are compiled in; the learning rate is per step. Adam's step
 * count and the dropout seed (seed + step) advance with each successful step;
 * a failed step (e.g. a label out of range) leaves the weights unchanged
 * unless a kernel of the update itself failed. An input or label that is not
 * finite is refused before the step (CNNC_ERR_ARG); a loss that overflows
 * fails the step before any update (CNNC_ERR_NONFINITE; batch norms'
 * running statistics, which the forward pass updates, may have moved). cnnc_run on a training
 * library runs one step too, with every input (labels, lr, ...) explicit. */
int cnnc_is_training(void); /* 1: a training library */
int cnnc_train_step(cnnc_model* m, const float* const* inputs, const float* labels, float lr,
                    float* loss, float* prediction); /* prediction: NULL, or output 1's size */
int64_t cnnc_train_steps(const cnnc_model* m);       /* steps taken (saved and restored) */
int cnnc_set_seed(cnnc_model* m, uint64_t seed);     /* dropout's seed (default 0) */
/* Writes every weight, the optimizer state and the step count, atomically
 * (a temporary file renamed over `path`); cnnc_create(path) resumes from it. */
int cnnc_save_weights(cnnc_model* m, const char* path);

#ifdef __cplusplus
}
#endif

#endif /* CNNC_H */
