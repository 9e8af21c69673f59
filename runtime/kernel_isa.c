/* Which ISA variant of a multi-target library's kernels runs (cnnc.h,
 * cnnc_kernel_isa), and CNNC_ISA, which caps it.
 *
 * A library built for several targets (`cnnc compile --target default`)
 * holds every kernel in each, and Halide's dispatch wrapper runs the first
 * whose features halide_can_use_target_features accepts, deciding once per
 * kernel and process (its first call caches the choice). We install our own
 * check in front of Halide's: it refuses variants above the process's cap,
 * so a machine with AVX-512 can run (and tests can check) the AVX2 and SSE4.1
 * kernels that other CPUs get, and it records the variant it accepted. Every
 * kernel has the same variants and gets the same answers, so what one chose,
 * all did. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "HalideRuntime.h"
#include "cnnrt_internal.h"

static const char* const kIsaNames[] = {"sse41", "avx2", "avx512"};

/* The cap (CNNRT_ISA_NONE until the first instance sets it), the most
 * capable variant accepted, and whether a dispatch asked at all: the last,
 * baseline, variant runs without asking when every other one is refused. */
static atomic_int process_cap = CNNRT_ISA_NONE;
static atomic_int accepted = CNNRT_ISA_NONE;
static atomic_int asked = 0;

static int has_feature(int count, const uint64_t* features, int f) {
  return f / 64 < count && ((features[f / 64] >> (f % 64)) & 1) != 0;
}

/* The ISA level a variant's feature mask needs. */
static int mask_level(int count, const uint64_t* features) {
  static const int avx512[] = {halide_target_feature_avx512, halide_target_feature_avx512_knl,
                               halide_target_feature_avx512_skylake,
                               halide_target_feature_avx512_cannonlake,
                               halide_target_feature_avx512_sapphirerapids};
  for (size_t i = 0; i < sizeof avx512 / sizeof avx512[0]; ++i)
    if (has_feature(count, features, avx512[i])) return CNNRT_ISA_AVX512;
  if (has_feature(count, features, halide_target_feature_avx2) ||
      has_feature(count, features, halide_target_feature_fma) ||
      has_feature(count, features, halide_target_feature_avx) ||
      has_feature(count, features, halide_target_feature_f16c))
    return CNNRT_ISA_AVX2;
  return CNNRT_ISA_SSE41;
}

static int can_use(int count, const uint64_t* features) {
  const int level = mask_level(count, features);
  atomic_store(&asked, 1);
  const int cap = atomic_load(&process_cap);
  if (cap != CNNRT_ISA_NONE && level > cap) return 0;
  if (!halide_default_can_use_target_features(count, features)) return 0;
  int seen = atomic_load(&accepted);
  while (level > seen && !atomic_compare_exchange_weak(&accepted, &seen, level)) {
  }
  return 1;
}

void cnnrt_isa_install(void) { halide_set_custom_can_use_target_features(can_use); }

int cnnrt_isa_parse(const char* name) {
  if (!name || !*name) return CNNRT_ISA_ANY;
  for (int i = 0; i < 3; ++i)
    if (strcmp(name, kIsaNames[i]) == 0) return i;
  return CNNRT_ISA_NONE;
}

const char* cnnrt_isa_name(int level) { return level >= 0 && level < 3 ? kIsaNames[level] : ""; }

int cnnrt_isa_claim(int cap) {
  int expected = CNNRT_ISA_NONE;
  if (atomic_compare_exchange_strong(&process_cap, &expected, cap)) return cap;
  return expected;
}

int cnnrt_target_level(const char* target) {
  if (strstr(target, "avx512")) return CNNRT_ISA_AVX512;
  if (strstr(target, "avx2") || strstr(target, "fma") || strstr(target, "-avx"))
    return CNNRT_ISA_AVX2;
  return CNNRT_ISA_SSE41;
}

int cnnrt_lowest_target_level(const char* targets) {
  /* The last of a comma-separated list is the baseline every CPU may run. */
  const char* last = strrchr(targets, ',');
  return cnnrt_target_level(last ? last + 1 : targets);
}

int cnnrt_isa_used(const char* targets) {
  const int level = atomic_load(&accepted);
  if (level != CNNRT_ISA_NONE) return level;
  if (atomic_load(&asked)) return cnnrt_lowest_target_level(targets);
  /* A single-target library calls its kernels without a dispatch. */
  return strchr(targets, ',') ? CNNRT_ISA_NONE : cnnrt_target_level(targets);
}
