// Test helper shared by the back-end tests: a kernel under another schedule
// computes what a reference run computed.
#pragma once

#include <gtest/gtest.h>

#include <vector>

#include "backends/halide/kernel_bench.h"
#include "backends/halide/schedule_space.h"
#include "support/numeric_diff.h"

namespace cnnc::test {

/// Runs `spec` with `s` under the JIT (inputs seeded by `seed`) and expects
/// every output element within 1e-5 of its own magnitude plus 1e-6 of the
/// largest |want|, NaN nowhere the reference has none (each output is one
/// serial sum whatever the schedule; LLVM may contract a transform's
/// multiply-adds differently, a few ulp).
inline void expect_computes(const halide::KernelSpec& spec, const halide::Schedule& s,
                            const std::vector<float>& want, uint64_t seed) {
  ASSERT_EQ(halide::schedule_problem(spec, s), "") << s.key();
  halide::JitKernel j(spec, s, "host", seed);
  j.run();
  const NumericDiff d = numeric_diff(j.output(), want, Tolerance{1e-5, 1e-6});
  EXPECT_TRUE(d.ok()) << s.key() << " on " << spec.key() << ": " << d.str();
}

}  // namespace cnnc::test
