// This machine's fp32 peak, measured (not looked up): what `--profile`'s
// "% of peak" divides by. Machines differ (AVX-512 or AVX2 only), so the
// figure is measured in the same run as the profile it serves.
#pragma once

namespace cnnc::tool {

struct Peak {
  double gflops = 0;     ///< all threads together
  const char* isa = "";  ///< "avx512", "avx2" or "sse"
};

/// Runs a multiply-add loop with 12 independent accumulators per thread on
/// `threads` threads for about `seconds` in all, in five rounds; the best
/// round's rate.
Peak measure_fp32_peak(int threads, double seconds = 0.25);

}  // namespace cnnc::tool
