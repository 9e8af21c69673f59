// One kernel run in this process with Halide's JIT, on seeded random inputs:
// what each of `cnnc tune`'s worker processes does with a candidate schedule.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "backends/halide/kernel_spec.h"
#include "backends/halide/schedule.h"

namespace cnnc::halide {

/// Runs the parallel loops of every JitKernel made afterwards in this
/// process on the compiled libraries' thread pool (runtime/thread_pool.h)
/// with `threads` threads (0: one per core), so candidates are timed as the
/// library will run them.
void use_runtime_pool(int threads);

class JitKernel {
 public:
  /// Builds `spec` with `s` and compiles it for `target` (a Halide target this
  /// CPU runs, without no_runtime). Inputs are uniform in [-1, 1) from a
  /// stream seeded by `seed` and the spec, so every schedule of a spec sees
  /// the same inputs. Throws what Halide throws.
  JitKernel(const KernelSpec& spec, const Schedule& s, const std::string& target, uint64_t seed);
  ~JitKernel();

  void run();
  /// Runs until `seconds` of warm-up, then times single runs until `seconds`
  /// more have passed (at least min_runs, at most max_runs); milliseconds.
  std::vector<double> time(double seconds, int min_runs, int max_runs);
  /// The output buffer's elements (its whole span, in memory order).
  std::vector<float> output() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// The median and a ~95 % confidence interval of the median (order
/// statistics n/2 ± 0.98·√n) of `ms`.
struct TimingSummary {
  double median = 0, lo = 0, hi = 0;
  int runs = 0;
};
TimingSummary summarize(std::vector<double> ms);

}  // namespace cnnc::halide
