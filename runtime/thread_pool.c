/* The thread pool of compiled models: Halide's parallel loops
 * (halide_do_par_for) run on the calling thread plus threads-1 workers that
 * spin between the kernels of a run (up to SPIN_NS after the last loop) and
 * sleep otherwise.
 *
 * Why not Halide's own pool: its workers sleep after a few dozen idle spins,
 * so every kernel of a run has to wake them again. Where the CPU was busy with
 * something else since the last run (another process, a request loop), those
 * wake-ups went through the scheduler and a two-thread MobileNetV2 run took as
 * long as a one-thread one (10 ms instead of 6). Spinning only inside runs
 * costs no CPU between them.
 *
 * One loop uses the pool at a time; a loop that finds it taken (another
 * instance running in another thread, or a loop nested in a task) falls back
 * to Halide's default implementation. Items are claimed with a ticket that
 * carries the loop's sequence number, so a worker that wakes late for a loop
 * that has already finished can never run an item of the next one. */
#include "thread_pool.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define MAX_WORKERS 255

static struct {
  pthread_mutex_t loop_lock; /* held by the thread whose loop owns the pool */
  pthread_mutex_t sleep_lock;
  pthread_cond_t wake;
  pthread_t threads[MAX_WORKERS];
  int workers;                 /* started */
  atomic_int stop;             /* workers exit */
  atomic_int active_runs;      /* model runs in progress: workers spin */
  atomic_int sleeping;         /* workers waiting on `wake` */
  atomic_uint_fast64_t seq;    /* loop sequence number (high 32 bits of the ticket) */
  atomic_uint_fast64_t ticket; /* seq << 32 | next item */
  atomic_int done;             /* items finished of the current loop */
  atomic_int error;
  /* The current loop; written before seq is published, read after. */
  _Atomic(cnnrt_task_fn) task;
  _Atomic(void*) user_context;
  _Atomic(uint8_t*) closure;
  atomic_int min, size;
} pool = {.loop_lock = PTHREAD_MUTEX_INITIALIZER,
          .sleep_lock = PTHREAD_MUTEX_INITIALIZER,
          .wake = PTHREAD_COND_INITIALIZER};

static _Thread_local int in_task = 0;

/* Loops that cannot use the pool (nested, or the pool is taken). */
static cnnrt_par_for_fn fallback = NULL;

static int serial_par_for(void* uc, cnnrt_task_fn task, int min, int size, uint8_t* closure) {
  for (int i = min; i < min + size; ++i) {
    const int rc = task(uc, i, closure);
    if (rc) return rc;
  }
  return 0;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

/* Runs items of loop `seq` until none is left; returns when the ticket moved on. */
static void run_items(uint64_t seq) {
  cnnrt_task_fn task = atomic_load(&pool.task);
  void* uc = atomic_load(&pool.user_context);
  uint8_t* closure = atomic_load(&pool.closure);
  const int min = atomic_load(&pool.min), size = atomic_load(&pool.size);
  uint64_t t = atomic_load(&pool.ticket);
  for (;;) {
    if (t >> 32 != seq || (int)(t & 0xffffffffu) >= size) return;
    if (!atomic_compare_exchange_weak(&pool.ticket, &t, t + 1)) continue;
    in_task = 1;
    int rc = task(uc, min + (int)(t & 0xffffffffu), closure);
    in_task = 0;
    if (rc) atomic_store(&pool.error, rc);
    atomic_fetch_add(&pool.done, 1);
    t = atomic_load(&pool.ticket);
  }
}

static int64_t now_ns(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Inside a run a worker spins for the next loop, but only for SPIN_NS after
 * the last one: the gaps between a run's kernels are microseconds, and a
 * worker that spins longer only takes the core from whoever else needs it.
 * 2 ms, not 0.2: right after the CPU has been idle (a request after a pause,
 * another process's turn in a benchmark), gaps over 0.2 ms are common and
 * each costs a sleep and a wake-up: MobileNetV2 b1 after 50 ms idle had ~33
 * context switches per run with 0.2 ms, ~5 with 2 ms (perf stat), and ran
 * 3-15 % faster. Workers still sleep as soon as a run ends. */
#define SPIN_NS 2000000

static void* worker(void* arg) {
  (void)arg;
  uint64_t seen = atomic_load(&pool.seq);
  int64_t last = now_ns();
  unsigned spins = 0;
  while (!atomic_load(&pool.stop)) {
    uint64_t seq = atomic_load(&pool.seq);
    if (seq != seen) {
      seen = seq;
      run_items(seq);
      last = now_ns();
    } else if (atomic_load(&pool.active_runs) > 0 && (++spins % 256 || now_ns() - last < SPIN_NS)) {
      cpu_relax();
    } else {
      pthread_mutex_lock(&pool.sleep_lock);
      atomic_fetch_add(&pool.sleeping, 1);
      while (!atomic_load(&pool.stop) && atomic_load(&pool.seq) == seen)
        pthread_cond_wait(&pool.wake, &pool.sleep_lock);
      atomic_fetch_sub(&pool.sleeping, 1);
      pthread_mutex_unlock(&pool.sleep_lock);
      last = now_ns();
    }
  }
  return NULL;
}

static void wake_workers(void) {
  pthread_mutex_lock(&pool.sleep_lock);
  pthread_cond_broadcast(&pool.wake);
  pthread_mutex_unlock(&pool.sleep_lock);
}

static void stop_workers(void) {
  atomic_store(&pool.stop, 1);
  wake_workers();
  for (int i = 0; i < pool.workers; ++i) pthread_join(pool.threads[i], NULL);
  pool.workers = 0;
  atomic_store(&pool.stop, 0);
}

void cnnrt_pool_set_threads(int threads) {
  pthread_mutex_lock(&pool.loop_lock);
  stop_workers();
  int want = threads - 1;
  if (want > MAX_WORKERS) want = MAX_WORKERS;
  for (int i = 0; i < want; ++i) {
    if (pthread_create(&pool.threads[pool.workers], NULL, worker, NULL) != 0) break;
    ++pool.workers; /* fewer workers than asked when threads run out: slower, still correct */
  }
  pthread_mutex_unlock(&pool.loop_lock);
}

void cnnrt_pool_run_begin(void) { atomic_fetch_add(&pool.active_runs, 1); }

void cnnrt_pool_run_end(void) { atomic_fetch_sub(&pool.active_runs, 1); }

int cnnrt_pool_do_par_for(void* uc, cnnrt_task_fn task, int min, int size, uint8_t* closure) {
  if (in_task || pool.workers == 0 || size <= 1 || pthread_mutex_trylock(&pool.loop_lock) != 0)
    return (fallback ? fallback : serial_par_for)(uc, task, min, size, closure);
  /* The new loop's ticket first, then its fields, then its sequence number.
   * A worker still in run_items for the previous loop may read some of the
   * new fields (a larger size) with that loop's exhausted ticket; had the
   * ticket still been the old one, it could claim an item past the old
   * loop's end and run it with mixed state, counting it in the new loop's
   * `done` (wrong results at 16 threads, seen on a 16-core AVX-512 machine).
   * Reading any new field implies reading the new ticket, which the old
   * loop's workers refuse. */
  const uint64_t seq = atomic_load(&pool.seq) + 1;
  atomic_store(&pool.ticket, seq << 32);
  atomic_store(&pool.task, task);
  atomic_store(&pool.user_context, uc);
  atomic_store(&pool.closure, closure);
  atomic_store(&pool.min, min);
  atomic_store(&pool.size, size);
  atomic_store(&pool.done, 0);
  atomic_store(&pool.error, 0);
  atomic_store(&pool.seq, seq);
  if (atomic_load(&pool.sleeping) > 0) wake_workers();
  run_items(seq);
  /* An item still running on a worker: spin briefly, then give the core
   * away, in case that worker is waiting for it. */
  for (unsigned spins = 0; atomic_load(&pool.done) < size; ++spins)
    if (spins < 4096)
      cpu_relax();
    else
      sched_yield();
  const int rc = atomic_load(&pool.error);
  pthread_mutex_unlock(&pool.loop_lock);
  return rc;
}

void cnnrt_pool_start(cnnrt_par_for_fn fallback_fn) {
  fallback = fallback_fn;
  long cores = sysconf(_SC_NPROCESSORS_ONLN);
  cnnrt_pool_set_threads(cores > 0 ? (int)cores : 1);
}

/* The library may be unloaded (dlclose) with its workers asleep. */
__attribute__((destructor)) static void pool_shutdown(void) {
  pthread_mutex_lock(&pool.loop_lock);
  stop_workers();
  pthread_mutex_unlock(&pool.loop_lock);
}
