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

/* ISA variants of multi-target kernels (kernel_isa.c): levels in order of
 * capability; CNNRT_ISA_ANY caps nothing, CNNRT_ISA_NONE is "none or invalid". */
enum { CNNRT_ISA_NONE = -1, CNNRT_ISA_SSE41 = 0, CNNRT_ISA_AVX2 = 1, CNNRT_ISA_AVX512 = 2 };
#define CNNRT_ISA_ANY 100
/* Installs the variant check in front of Halide's (once, at start-up). */
void cnnrt_isa_install(void);
/* "avx512", "avx2", "sse41" -> its level; NULL or "" -> CNNRT_ISA_ANY;
 * anything else -> CNNRT_ISA_NONE. */
int cnnrt_isa_parse(const char* name);
/* The name of a level ("" for none). */
const char* cnnrt_isa_name(int level);
/* The level a Halide target string needs, and that of the last (baseline)
 * target of a comma-separated list. */
int cnnrt_target_level(const char* target);
int cnnrt_lowest_target_level(const char* targets);
/* Sets the process's cap on the first call and returns it; later calls
 * return the cap already set (a kernel's variant is fixed at its first call,
 * so the cap cannot change afterwards). */
int cnnrt_isa_claim(int cap);
/* The variant the kernels of a library with these comma-separated targets
 * run in this process (CNNRT_ISA_NONE: none has run yet). */
int cnnrt_isa_used(const char* targets);

#endif
