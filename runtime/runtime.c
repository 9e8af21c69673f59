/* libcnnrt: the public API of compiled models (cnnc.h), implemented once for
 * all models from the descriptor the compiler generates (cnnrt_model.h).
 * Plain C so that a model library needs nothing beyond libc, libm, libpthread
 * and libdl. */
#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "HalideRuntime.h"
#include "cnnc.h"
#include "cnnrt_internal.h"
#include "cnnrt_model.h"

#define CNNC_API __attribute__((visibility("default")))
#define MODEL_MAGIC 0x636e6e63u /* "cnnc" */
#define DEAD_MAGIC 0xdeadc0deu

struct cnnc_model {
  uint32_t magic;
  atomic_int busy;
  uint8_t* arena;
  int owns_arena;
  const uint8_t* weights;
  uint8_t* owned_weights;
  halide_buffer_t* buffers;
  halide_dimension_t* dims;
  int profiling;
  int64_t profiled_runs;
  double* kernel_seconds;
  struct timespec kernel_start;
  int64_t steps;   /* training: steps taken */
  uint64_t seed;   /* training: dropout's seed */
  float* step_out; /* training: where the outputs of a step land */
  int has_run;     /* cnnc_kernel_isa answers after the first run */
  char last_error[1024];
};

static _Thread_local char thread_error[1024] = "no error";
static atomic_int wanted_threads = 0; /* 0: not set */
static atomic_int applied_threads = 0;
static atomic_int runtime_ready = 0;
/* Runs hold it shared; changing the thread count holds it exclusively, since
 * Halide's pool only takes a new count after a shutdown (notes/toolchain.md),
 * and ours (thread_pool.c) restarts its workers: neither may happen under a
 * running kernel. */
static pthread_rwlock_t pool_lock = PTHREAD_RWLOCK_INITIALIZER;

void cnnrt_set_error(cnnc_model* m, const char* fmt, ...) {
  char* buf = m ? m->last_error : thread_error;
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, 1024, fmt, ap);
  va_end(ap);
}

/* Halide's default handler prints and aborts; ours records the message where
 * cnnc_last_error finds it (the instance passed as user context). */
static void on_halide_error(void* user_context, const char* msg) {
  cnnc_model* m = (cnnc_model*)user_context;
  size_t n = strlen(msg);
  while (n > 0 && (msg[n - 1] == '\n' || msg[n - 1] == ' ')) --n;
  if (m && m->magic == MODEL_MAGIC)
    snprintf(m->last_error, sizeof m->last_error, "%.*s", (int)n, msg);
  else
    snprintf(thread_error, sizeof thread_error, "%.*s", (int)n, msg);
}

static int parse_threads(const char* s) {
  if (!s || !*s) return 0;
  char* end = NULL;
  errno = 0;
  long v = strtol(s, &end, 10);
  if (errno || *end) return 0;
  if (v < 1) return 1; /* clamped: 0 or negative threads mean one */
  if (v > 1024) return 1024;
  return (int)v;
}

extern int halide_default_do_par_for(void* user_context, halide_task_t task, int min, int size,
                                     uint8_t* closure);

void cnnrt_pool_install(void) {
  halide_set_custom_do_par_for(
      (int (*)(void*, halide_task_t, int, int, uint8_t*))cnnrt_pool_do_par_for);
  cnnrt_pool_start((cnnrt_par_for_fn)halide_default_do_par_for);
}

static void runtime_init(void) {
  int expected = 0;
  if (!atomic_compare_exchange_strong(&runtime_ready, &expected, 1)) return;
  halide_set_error_handler(on_halide_error);
  cnnrt_pool_install();
  cnnrt_isa_install();
  int n = parse_threads(getenv("CNNC_NUM_THREADS"));
  if (n > 0) atomic_store(&wanted_threads, n);
}

/* Applies a thread count set since the pool started, once no run holds it. */
static void apply_thread_count(void) {
  int want = atomic_load(&wanted_threads);
  if (want == 0 || want == atomic_load(&applied_threads)) return;
  pthread_rwlock_wrlock(&pool_lock);
  want = atomic_load(&wanted_threads);
  if (want != atomic_load(&applied_threads)) {
    halide_shutdown_thread_pool();
    halide_set_num_threads(want);
    cnnrt_pool_set_threads(want);
    atomic_store(&applied_threads, want);
  }
  pthread_rwlock_unlock(&pool_lock);
}

/* ------------------------------------------------------------------------ */
/* Introspection */

CNNC_API int cnnc_abi_version(void) { return CNNC_ABI; }
CNNC_API const char* cnnc_model_name(void) { return cnnc_model_desc.name; }
CNNC_API const char* cnnc_target(void) { return cnnc_model_desc.target; }
CNNC_API int cnnc_num_inputs(void) { return cnnc_model_desc.num_inputs; }
CNNC_API int cnnc_num_outputs(void) { return cnnc_model_desc.num_outputs; }

static const cnnrt_tensor_desc* input_desc(int i) {
  return i >= 0 && i < cnnc_model_desc.num_inputs ? &cnnc_model_desc.inputs[i] : NULL;
}
static const cnnrt_tensor_desc* output_desc(int i) {
  return i >= 0 && i < cnnc_model_desc.num_outputs ? &cnnc_model_desc.outputs[i] : NULL;
}
static int shape_of(const cnnrt_tensor_desc* t, int64_t* dims) {
  if (!t) return -1;
  if (dims)
    for (int d = 0; d < t->rank; ++d) dims[d] = t->shape[d];
  return t->rank;
}

CNNC_API const char* cnnc_input_name(int i) { return input_desc(i) ? input_desc(i)->name : NULL; }
CNNC_API const char* cnnc_output_name(int i) {
  return output_desc(i) ? output_desc(i)->name : NULL;
}
CNNC_API int cnnc_input_rank(int i) { return input_desc(i) ? input_desc(i)->rank : -1; }
CNNC_API int cnnc_output_rank(int i) { return output_desc(i) ? output_desc(i)->rank : -1; }
CNNC_API int cnnc_input_shape(int i, int64_t* dims) { return shape_of(input_desc(i), dims); }
CNNC_API int cnnc_output_shape(int i, int64_t* dims) { return shape_of(output_desc(i), dims); }
CNNC_API size_t cnnc_input_bytes(int i) { return input_desc(i) ? (size_t)input_desc(i)->bytes : 0; }
CNNC_API size_t cnnc_output_bytes(int i) {
  return output_desc(i) ? (size_t)output_desc(i)->bytes : 0;
}
CNNC_API size_t cnnc_arena_bytes(void) { return (size_t)cnnc_model_desc.arena_bytes; }
CNNC_API size_t cnnc_weights_bytes(void) { return (size_t)cnnc_model_desc.weights_bytes; }
CNNC_API int cnnc_weights_embedded(void) { return cnnc_model_desc.embedded_weights != NULL; }
CNNC_API int cnnc_num_kernels(void) { return cnnc_model_desc.num_kernels; }
CNNC_API const char* cnnc_kernel_name(int k) {
  return k >= 0 && k < cnnc_model_desc.num_kernels ? cnnc_model_desc.kernels[k].name : NULL;
}
CNNC_API const char* cnnc_kernel_op(int k) {
  return k >= 0 && k < cnnc_model_desc.num_kernels ? cnnc_model_desc.kernels[k].op : NULL;
}
CNNC_API int64_t cnnc_kernel_flops(int k) {
  return k >= 0 && k < cnnc_model_desc.num_kernels ? cnnc_model_desc.kernels[k].flops : -1;
}

/* ------------------------------------------------------------------------ */
/* Instances */

static int live(const cnnc_model* m) { return m && m->magic == MODEL_MAGIC; }

/* Points every Halide buffer at its memory; input buffers are bound per run. */
static void bind_buffers(cnnc_model* m) {
  const cnnrt_model_desc* d = &cnnc_model_desc;
  for (int32_t b = 0; b < d->num_buffers; ++b) {
    const cnnrt_buffer_desc* bd = &d->buffers[b];
    halide_buffer_t* hb = &m->buffers[b];
    memset(hb, 0, sizeof *hb);
    hb->type.code = halide_type_float;
    hb->type.bits = 32;
    hb->type.lanes = 1;
    hb->dimensions = bd->rank;
    hb->dim = &m->dims[b * CNNRT_MAX_RANK];
    for (int i = 0; i < bd->rank; ++i) {
      hb->dim[i].min = 0;
      hb->dim[i].extent = bd->extent[i];
      hb->dim[i].stride = bd->stride[i];
      hb->dim[i].flags = 0;
    }
    if (bd->space == CNNRT_ARENA)
      hb->host = m->arena + bd->offset;
    else if (bd->space == CNNRT_WEIGHTS)
      hb->host = (uint8_t*)m->weights + bd->offset;
  }
}

static cnnc_model* create(const char* weights_path, void* arena, size_t arena_bytes) {
  runtime_init();
  const cnnrt_model_desc* d = &cnnc_model_desc;
  if (d->abi_version != CNNRT_ABI_VERSION) {
    cnnrt_set_error(NULL, "model descriptor ABI %d, runtime ABI %d", d->abi_version,
                    CNNRT_ABI_VERSION);
    return NULL;
  }
  if (!d->embedded_weights && !weights_path) {
    cnnrt_set_error(
        NULL,
        "model '%s' was compiled with --weights external: pass the weights file to cnnc_create",
        d->name);
    return NULL;
  }
  /* CNNC_ISA caps the kernel variant (kernel_isa.c): a wrong value, or one
   * below every variant the library has, would silently test or run
   * something else. */
  const char* isa_env = getenv("CNNC_ISA");
  const int isa_cap = cnnrt_isa_parse(isa_env);
  if (isa_cap == CNNRT_ISA_NONE) {
    cnnrt_set_error(NULL, "CNNC_ISA='%s' is not one of avx512, avx2, sse41 (or empty)", isa_env);
    return NULL;
  }
  if (isa_cap != CNNRT_ISA_ANY && cnnrt_lowest_target_level(d->target) > isa_cap) {
    cnnrt_set_error(NULL, "CNNC_ISA=%s: model '%s' has no kernels for it (compiled for %s)",
                    isa_env, d->name, d->target);
    return NULL;
  }
  const int claimed = cnnrt_isa_claim(isa_cap);
  if (claimed != isa_cap) {
    cnnrt_set_error(NULL,
                    "CNNC_ISA='%s', but an earlier instance in this process set '%s': the "
                    "variant of each kernel is chosen once per process",
                    isa_env ? isa_env : "",
                    claimed == CNNRT_ISA_ANY ? "" : cnnrt_isa_name(claimed));
    return NULL;
  }
  if (arena) {
    if (arena_bytes < (size_t)d->arena_bytes) {
      cnnrt_set_error(NULL, "the arena given has %zu bytes; model '%s' needs %lld", arena_bytes,
                      d->name, (long long)d->arena_bytes);
      return NULL;
    }
    if (((uintptr_t)arena & 63) != 0) {
      cnnrt_set_error(NULL, "the arena given is not 64-byte aligned");
      return NULL;
    }
  }
  cnnc_model* m = (cnnc_model*)calloc(1, sizeof *m);
  if (!m) goto nomem;
  m->buffers = (halide_buffer_t*)calloc((size_t)d->num_buffers + 1, sizeof(halide_buffer_t));
  m->dims = (halide_dimension_t*)calloc((size_t)d->num_buffers * CNNRT_MAX_RANK + 1,
                                        sizeof(halide_dimension_t));
  m->kernel_seconds = (double*)calloc((size_t)d->num_kernels + 1, sizeof(double));
  if (!m->buffers || !m->dims || !m->kernel_seconds) goto nomem;
  if (arena) {
    m->arena = (uint8_t*)arena;
  } else {
    if (posix_memalign((void**)&m->arena, 64, (size_t)d->arena_bytes + 64) != 0) goto nomem;
    m->owns_arena = 1;
  }
  if (d->embedded_weights && !(d->training && weights_path)) {
    if (d->training) { /* a training step writes its weights */
      if (posix_memalign((void**)&m->owned_weights, 64, (size_t)d->weights_bytes + 64) != 0)
        goto nomem;
      memcpy(m->owned_weights, d->embedded_weights, (size_t)d->weights_bytes);
      m->weights = m->owned_weights;
    } else {
      m->weights = d->embedded_weights; /* they win over a path given anyway */
    }
  } else {
    char why[512];
    int rc = cnnrt_load_weights(d, weights_path, &m->owned_weights, &m->steps, why, sizeof why);
    if (rc != CNNC_OK) {
      cnnrt_set_error(NULL, "%s", why);
      goto fail;
    }
    m->weights = m->owned_weights;
  }
  if (d->training) {
    size_t bytes = 0;
    for (int32_t o = 0; o < d->num_outputs; ++o) bytes += (size_t)d->outputs[o].bytes;
    m->step_out = (float*)malloc(bytes + 4);
    if (!m->step_out) goto nomem;
  }
  /* CNNC_POISON_ARENA=1: the working memory starts as a NaN no kernel
   * computes (bits 0x7fa5a5a5), so outputs nobody wrote, and reads of memory
   * nobody wrote, show (the differential tests set it). */
  const char* poison = getenv("CNNC_POISON_ARENA");
  if (poison && strcmp(poison, "1") == 0) {
    const uint32_t bits = 0x7fa5a5a5u;
    for (int64_t i = 0; i + 4 <= d->arena_bytes; i += 4) memcpy(m->arena + i, &bits, 4);
  }
  bind_buffers(m);
  atomic_init(&m->busy, 0);
  snprintf(m->last_error, sizeof m->last_error, "no error");
  m->magic = MODEL_MAGIC;
  return m;
nomem:
  cnnrt_set_error(NULL, "out of memory creating model '%s' (arena %lld bytes)", d->name,
                  (long long)d->arena_bytes);
fail:
  if (m) {
    if (m->owns_arena) free(m->arena);
    free(m->step_out);
    free(m->owned_weights);
    free(m->buffers);
    free(m->dims);
    free(m->kernel_seconds);
    free(m);
  }
  return NULL;
}

CNNC_API cnnc_model* cnnc_create(const char* weights_path) { return create(weights_path, NULL, 0); }

CNNC_API cnnc_model* cnnc_create_with_arena(const char* weights_path, void* arena,
                                            size_t arena_bytes) {
  if (!arena) {
    cnnrt_set_error(NULL, "cnnc_create_with_arena: arena is NULL");
    return NULL;
  }
  return create(weights_path, arena, arena_bytes);
}

CNNC_API void cnnc_destroy(cnnc_model* m) {
  if (!live(m)) return; /* NULL, already destroyed or not ours: nothing to do */
  m->magic = DEAD_MAGIC;
  if (m->owns_arena) free(m->arena);
  free(m->step_out);
  free(m->owned_weights);
  free(m->buffers);
  free(m->dims);
  free(m->kernel_seconds);
  free(m);
}

CNNC_API const char* cnnc_last_error(const cnnc_model* m) {
  if (!m) return thread_error;
  if (!live(m)) return "not a live cnnc model";
  return m->last_error;
}

CNNC_API int cnnc_set_num_threads(int n) {
  runtime_init();
  if (n < 1 || n > 1024) return -1;
  return atomic_exchange(&wanted_threads, n);
}

CNNC_API int cnnc_profile(cnnc_model* m, int enable) {
  if (!live(m)) return CNNC_ERR_HANDLE;
  m->profiling = enable != 0;
  return CNNC_OK;
}

CNNC_API double cnnc_kernel_seconds(const cnnc_model* m, int k) {
  if (!live(m) || k < 0 || k >= cnnc_model_desc.num_kernels) return -1;
  return m->kernel_seconds[k];
}

CNNC_API int64_t cnnc_profiled_runs(const cnnc_model* m) { return live(m) ? m->profiled_runs : -1; }

CNNC_API const char* cnnc_kernel_isa(const cnnc_model* m) {
  return live(m) && m->has_run ? cnnrt_isa_name(cnnrt_isa_used(cnnc_model_desc.target)) : "";
}

/* ------------------------------------------------------------------------ */
/* Runs */

CNNC_API int cnnc_run(cnnc_model* m, const float* const* inputs, float* const* outputs) {
  return cnnc_run_sized(m, inputs, NULL, outputs, NULL);
}

halide_buffer_t* cnnrt_run_begin(cnnc_model* m, const float* const* inputs,
                                 const size_t* input_bytes, float* const* outputs,
                                 const size_t* output_bytes, int* status) {
  const cnnrt_model_desc* d = &cnnc_model_desc;
  if (!m) {
    cnnrt_set_error(NULL, "cnnc_run: model is NULL");
    *status = CNNC_ERR_NULL;
    return NULL;
  }
  if (!live(m)) {
    cnnrt_set_error(NULL, "cnnc_run: not a live cnnc model (destroyed?)");
    *status = CNNC_ERR_HANDLE;
    return NULL;
  }
  int expected = 0;
  if (!atomic_compare_exchange_strong(&m->busy, &expected, 1)) {
    /* The other thread owns last_error; report through the thread's own. */
    cnnrt_set_error(NULL, "cnnc_run: the instance is already running in another thread");
    *status = CNNC_ERR_BUSY;
    return NULL;
  }
  *status = CNNC_OK;
  if (!inputs || !outputs) {
    cnnrt_set_error(m, "cnnc_run: %s is NULL", !inputs ? "inputs" : "outputs");
    *status = CNNC_ERR_NULL;
  }
  for (int32_t i = 0; *status == CNNC_OK && i < d->num_inputs; ++i) {
    if (!inputs[i]) {
      cnnrt_set_error(m, "cnnc_run: input %d ('%s') is NULL", i, d->inputs[i].name);
      *status = CNNC_ERR_NULL;
    } else if (input_bytes && input_bytes[i] != (size_t)d->inputs[i].bytes) {
      cnnrt_set_error(m, "cnnc_run: input '%s' needs %lld bytes, got %zu", d->inputs[i].name,
                      (long long)d->inputs[i].bytes, input_bytes[i]);
      *status = CNNC_ERR_SIZE;
    }
  }
  for (int32_t o = 0; *status == CNNC_OK && o < d->num_outputs; ++o) {
    if (!outputs[o]) {
      cnnrt_set_error(m, "cnnc_run: output %d ('%s') is NULL", o, d->outputs[o].name);
      *status = CNNC_ERR_NULL;
    } else if (output_bytes && output_bytes[o] != (size_t)d->outputs[o].bytes) {
      cnnrt_set_error(m, "cnnc_run: output '%s' needs %lld bytes, got %zu", d->outputs[o].name,
                      (long long)d->outputs[o].bytes, output_bytes[o]);
      *status = CNNC_ERR_SIZE;
    }
  }
  if (*status != CNNC_OK) {
    atomic_store(&m->busy, 0);
    return NULL;
  }
  for (int32_t b = 0; b < d->num_buffers; ++b) {
    const cnnrt_buffer_desc* bd = &d->buffers[b];
    if (bd->space == CNNRT_INPUT) m->buffers[b].host = (uint8_t*)inputs[bd->index] + bd->offset;
  }
  apply_thread_count();
  pthread_rwlock_rdlock(&pool_lock);
  cnnrt_pool_run_begin();
  if (m->profiling) ++m->profiled_runs;
  return m->buffers;
}

int cnnrt_run_end(cnnc_model* m, float* const* outputs, int status) {
  const cnnrt_model_desc* d = &cnnc_model_desc;
  if (status == CNNC_OK)
    for (int32_t o = 0; o < d->num_outputs; ++o)
      memcpy(outputs[o], m->arena + d->outputs[o].arena_offset, (size_t)d->outputs[o].bytes);
  if (status == CNNC_OK) m->has_run = 1;
  cnnrt_pool_run_end();
  pthread_rwlock_unlock(&pool_lock);
  atomic_store(&m->busy, 0);
  return status;
}

int cnnrt_kernel_failed(cnnc_model* m, int32_t k, int32_t rc) {
  char halide_msg[1024];
  snprintf(halide_msg, sizeof halide_msg, "%s", m->last_error);
  cnnrt_set_error(m, "kernel %d '%s' (%s) failed with Halide error %d: %s", k,
                  cnnc_model_desc.kernels[k].name, cnnc_model_desc.kernels[k].op, rc, halide_msg);
  /* The loss kernel's own check (templates_grad.cpp, finite_loss). */
  if (rc == halide_error_code_requirement_failed && strstr(halide_msg, "the loss is not finite"))
    return CNNC_ERR_NONFINITE;
  return CNNC_ERR_KERNEL;
}

void cnnrt_kernel_begin(cnnc_model* m, int32_t k) {
  (void)k;
  if (m->profiling) clock_gettime(CLOCK_MONOTONIC, &m->kernel_start);
}

void cnnrt_kernel_end(cnnc_model* m, int32_t k) {
  if (!m->profiling) return;
  struct timespec now;
  clock_gettime(CLOCK_MONOTONIC, &now);
  m->kernel_seconds[k] += (double)(now.tv_sec - m->kernel_start.tv_sec) +
                          1e-9 * (double)(now.tv_nsec - m->kernel_start.tv_nsec);
}

/* ------------------------------------------------------------------------ */
/* Training */

CNNC_API int cnnc_is_training(void) { return cnnc_model_desc.training != 0; }

CNNC_API int64_t cnnc_train_steps(const cnnc_model* m) { return live(m) ? m->steps : -1; }

CNNC_API int cnnc_set_seed(cnnc_model* m, uint64_t seed) {
  if (!live(m)) return CNNC_ERR_HANDLE;
  m->seed = seed;
  return CNNC_OK;
}

CNNC_API int cnnc_train_step(cnnc_model* m, const float* const* inputs, const float* labels,
                             float lr, float* loss, float* prediction) {
  const cnnrt_model_desc* d = &cnnc_model_desc;
  if (!live(m)) {
    cnnrt_set_error(NULL, "cnnc_train_step: %s", m ? "not a live cnnc model" : "model is NULL");
    return m ? CNNC_ERR_HANDLE : CNNC_ERR_NULL;
  }
  if (!d->training) {
    cnnrt_set_error(m,
                    "cnnc_train_step: model '%s' is an inference library (compile it with "
                    "--mode training)",
                    d->name);
    return CNNC_ERR_ARG;
  }
  if (!inputs || !labels || !loss) {
    cnnrt_set_error(m, "cnnc_train_step: %s is NULL",
                    !inputs   ? "inputs"
                    : !labels ? "labels"
                              : "loss");
    return CNNC_ERR_NULL;
  }
  if (!(lr >= 0) || lr > 1e30f) { /* also NaN */
    cnnrt_set_error(m, "cnnc_train_step: learning rate %g is not a finite value >= 0", (double)lr);
    return CNNC_ERR_ARG;
  }
  /* The network's inputs in order, then what the step itself provides. */
  const float* all[64];
  if (d->num_inputs > 64) {
    cnnrt_set_error(m, "cnnc_train_step: %d inputs; at most 64 supported", d->num_inputs);
    return CNNC_ERR_ARG;
  }
  const int64_t step = m->steps + 1;
  const float step_f = (float)step;
  const uint64_t seed = m->seed + (uint64_t)step;
  float seed_bits[2];
  uint32_t words[2] = {(uint32_t)seed, (uint32_t)(seed >> 32)};
  memcpy(seed_bits, words, sizeof words);
  /* A non-finite input or label would make every gradient it reaches NaN:
   * refused before the step, which then changes nothing. (A loss that is not
   * finite all the same fails the loss kernel, before any update.) */
  int next_checked = 0;
  for (int32_t i = 0; i < d->num_inputs; ++i) {
    const float* data = NULL;
    const char* what = NULL;
    if (i == d->labels_input) {
      data = labels;
      what = "labels";
    } else if (i != d->lr_input && i != d->step_input && i != d->seed_input) {
      data = inputs[next_checked++];
      what = d->inputs[i].name;
      if (!data) {
        cnnrt_set_error(m, "cnnc_train_step: input %d ('%s') is NULL", i, what);
        return CNNC_ERR_NULL;
      }
    }
    if (!data) continue;
    const int64_t n = d->inputs[i].bytes / (int64_t)sizeof(float);
    for (int64_t e = 0; e < n; ++e) {
      if (!isfinite(data[e])) {
        cnnrt_set_error(m,
                        "cnnc_train_step: %s holds %g at element %lld; a training step needs "
                        "finite values (the step was not taken)",
                        what, (double)data[e], (long long)e);
        return CNNC_ERR_ARG;
      }
    }
  }
  int next = 0;
  for (int32_t i = 0; i < d->num_inputs; ++i) {
    if (i == d->labels_input)
      all[i] = labels;
    else if (i == d->lr_input)
      all[i] = &lr;
    else if (i == d->step_input)
      all[i] = &step_f;
    else if (i == d->seed_input)
      all[i] = seed_bits;
    else
      all[i] = inputs[next++];
  }
  float* outs[64];
  size_t at = 0;
  for (int32_t o = 0; o < d->num_outputs && o < 64; ++o) {
    outs[o] = m->step_out + at / sizeof(float);
    at += (size_t)d->outputs[o].bytes;
  }
  int rc = cnnc_run_sized(m, all, NULL, outs, NULL);
  if (rc != CNNC_OK) return rc;
  m->steps = step;
  *loss = outs[0][0];
  if (prediction && d->num_outputs > 1) memcpy(prediction, outs[1], (size_t)d->outputs[1].bytes);
  return CNNC_OK;
}

CNNC_API int cnnc_save_weights(cnnc_model* m, const char* path) {
  if (!live(m)) {
    cnnrt_set_error(NULL, "cnnc_save_weights: %s", m ? "not a live cnnc model" : "model is NULL");
    return m ? CNNC_ERR_HANDLE : CNNC_ERR_NULL;
  }
  if (!path) {
    cnnrt_set_error(m, "cnnc_save_weights: path is NULL");
    return CNNC_ERR_NULL;
  }
  int expected = 0;
  if (!atomic_compare_exchange_strong(&m->busy, &expected, 1)) {
    cnnrt_set_error(NULL, "cnnc_save_weights: the instance is running in another thread");
    return CNNC_ERR_BUSY;
  }
  char why[1024];
  int rc = cnnrt_save_weights(&cnnc_model_desc, m->weights, m->steps, path, why, sizeof why);
  if (rc != CNNC_OK) cnnrt_set_error(m, "cnnc_save_weights: %s", why);
  atomic_store(&m->busy, 0);
  return rc;
}
