#include "tools/cnnc/peak_flops.h"

#include <immintrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstring>
#include <thread>
#include <vector>

namespace cnnc::tool {

namespace {

// Each returns the flops done in `iters` iterations: 12 independent FMA chains
// (more than latency × throughput on every x86 we run on). The chains start
// from different values and pass through an empty asm each iteration: with
// equal starts GCC merges them into one chain, which then measures one FMA's
// latency and counts it twelve times (3× the true AVX-512 peak on Zen 4).
#define CNNC_FMA_BODY(VEC, SET1, FMA, ADD, LANES)                                       \
  VEC m = SET1(0.9999999f), c = SET1(1e-7f);                                            \
  VEC a0 = SET1(1.00f), a1 = SET1(1.01f), a2 = SET1(1.02f), a3 = SET1(1.03f);           \
  VEC a4 = SET1(1.04f), a5 = SET1(1.05f), a6 = SET1(1.06f), a7 = SET1(1.07f);           \
  VEC a8 = SET1(1.08f), a9 = SET1(1.09f), a10 = SET1(1.10f), a11 = SET1(1.11f);         \
  for (long i = 0; i < iters; ++i) {                                                    \
    a0 = FMA(a0, m, c), a1 = FMA(a1, m, c), a2 = FMA(a2, m, c), a3 = FMA(a3, m, c);     \
    a4 = FMA(a4, m, c), a5 = FMA(a5, m, c), a6 = FMA(a6, m, c), a7 = FMA(a7, m, c);     \
    a8 = FMA(a8, m, c), a9 = FMA(a9, m, c), a10 = FMA(a10, m, c), a11 = FMA(a11, m, c); \
    asm volatile("" : "+x"(a0), "+x"(a1), "+x"(a2), "+x"(a3), "+x"(a4), "+x"(a5));      \
    asm volatile("" : "+x"(a6), "+x"(a7), "+x"(a8), "+x"(a9), "+x"(a10), "+x"(a11));    \
  }                                                                                     \
  VEC s = ADD(ADD(ADD(a0, a1), ADD(a2, a3)), ADD(ADD(a4, a5), ADD(a6, a7)));            \
  s = ADD(s, ADD(ADD(a8, a9), ADD(a10, a11)));                                          \
  alignas(64) float out[LANES];                                                         \
  std::memcpy(out, &s, sizeof out);                                                     \
  sink_store.store(out[0], std::memory_order_relaxed);                                  \
  return static_cast<double>(iters) * 12 * LANES * 2;

std::atomic<float> sink_store{0};

__attribute__((target("avx512f"))) double loop_avx512(long iters) {
  CNNC_FMA_BODY(__m512, _mm512_set1_ps, _mm512_fmadd_ps, _mm512_add_ps, 16)
}

__attribute__((target("avx2,fma"))) double loop_avx2(long iters) {
  CNNC_FMA_BODY(__m256, _mm256_set1_ps, _mm256_fmadd_ps, _mm256_add_ps, 8)
}

// SSE has no FMA: a multiply and an add per lane, counted as two flops.
#define CNNC_SSE_FMA(a, m, c) _mm_add_ps(_mm_mul_ps(a, m), c)
double loop_sse(long iters) { CNNC_FMA_BODY(__m128, _mm_set1_ps, CNNC_SSE_FMA, _mm_add_ps, 4) }

}  // namespace

Peak measure_fp32_peak(int threads, double seconds) {
  Peak p;
  double (*loop)(long) = loop_sse;
  p.isa = "sse";
  if (__builtin_cpu_supports("avx512f")) {
    loop = loop_avx512;
    p.isa = "avx512";
  } else if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    loop = loop_avx2;
    p.isa = "avx2";
  }
  // Calibrate on one thread, then run all threads together.
  long iters = 1 << 16;
  for (;;) {
    auto t0 = std::chrono::steady_clock::now();
    loop(iters);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s > 0.02 || iters > (1L << 40)) {
      iters = static_cast<long>(static_cast<double>(iters) * seconds / std::max(s, 1e-6));
      break;
    }
    iters *= 4;
  }
  // Other work on a shared machine only lowers the rate, and one sample taken
  // in a busy moment read 25 % low: the best of five short rounds is the peak.
  constexpr int kRounds = 5;
  iters = std::max(1L, iters / kRounds);
  for (int round = 0; round < kRounds; ++round) {
    std::vector<double> flops(static_cast<size_t>(threads));
    auto t0 = std::chrono::steady_clock::now();
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t)
      pool.emplace_back([&, t] { flops[static_cast<size_t>(t)] = loop(iters); });
    for (std::thread& t : pool) t.join();
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    double total = 0;
    for (double f : flops) total += f;
    p.gflops = std::max(p.gflops, total / s * 1e-9);
  }
  return p;
}

}  // namespace cnnc::tool
