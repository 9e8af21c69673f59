/* Shared inside libcnnrt. */
#ifndef CNNRT_INTERNAL_H
#define CNNRT_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "cnnrt_model.h"
#include "thread_pool.h"

struct cnnc_model;

/* Formats the last error of m (m = NULL: of the calling thread). */
void cnnrt_set_error(struct cnnc_model* m, const char* fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Reads the safetensors file at `path` and assembles the model's weights
 * (d->weights_bytes, 64-byte aligned, owned by the caller) from it, and the
 * training steps taken ("cnnc.step", 0 if absent). Returns a CNNC_ status; on
 * failure `why` says what is wrong, naming the tensor. */
int cnnrt_load_weights(const cnnrt_model_desc* d, const char* path, uint8_t** out, int64_t* step,
                       char* why, size_t why_size);

/* Writes every weight tensor (the optimizer state included) of the blob
 * `weights` to `path` as safetensors, atomically, with the layout
 * fingerprint and the step count. Returns a CNNC_ status, setting `why`. */
int cnnrt_save_weights(const cnnrt_model_desc* d, const uint8_t* weights, int64_t step,
                       const char* path, char* why, size_t why_size);

/* The thread pool (thread_pool.h), installed as Halide's do_par_for. */
void cnnrt_pool_install(void);

#endif
