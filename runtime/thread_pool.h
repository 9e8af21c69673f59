/* The thread pool of compiled models (thread_pool.c): parallel loops run on
 * the calling thread plus threads-1 workers that spin between run_begin and
 * run_end and sleep otherwise. Independent of the Halide runtime, so the
 * tuner runs its candidates on the very pool the libraries use (the runtime
 * installs it as Halide's do_par_for, the tuner as its JIT's). */
#ifndef CNNC_THREAD_POOL_H
#define CNNC_THREAD_POOL_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Halide's task and do_par_for signatures. */
typedef int (*cnnrt_task_fn)(void* user_context, int index, uint8_t* closure);
typedef int (*cnnrt_par_for_fn)(void* user_context, cnnrt_task_fn task, int min, int size,
                                uint8_t* closure);

/* Starts one worker per further core; loops the pool cannot take (nested,
 * or while another thread's loop holds it) go to `fallback` (NULL: serial). */
void cnnrt_pool_start(cnnrt_par_for_fn fallback);
/* Resizes the pool (threads - 1 workers); not while a loop runs. */
void cnnrt_pool_set_threads(int threads);
void cnnrt_pool_run_begin(void);
void cnnrt_pool_run_end(void);
int cnnrt_pool_do_par_for(void* user_context, cnnrt_task_fn task, int min, int size,
                          uint8_t* closure);

#ifdef __cplusplus
}
#endif

#endif
