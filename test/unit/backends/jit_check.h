// Test helper shared by the back-end tests: a kernel under another schedule
// computes what a reference run computed.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/halide/kernel_bench.h"
#include "backends/halide/schedule_space.h"

namespace cnnc::test {

/// Runs `spec` with `s` under the JIT (inputs seeded by `seed`) and expects
/// every output within 1e-5 of the largest |want| (each output is one serial
/// sum whatever the schedule; LLVM may contract a transform's multiply-adds
/// differently, a few ulp).
inline void expect_computes(const halide::KernelSpec& spec, const halide::Schedule& s,
                            const std::vector<float>& want, uint64_t seed) {
  ASSERT_EQ(halide::schedule_problem(spec, s), "") << s.key();
  halide::JitKernel j(spec, s, "host", seed);
  j.run();
  const std::vector<float>& got = j.output();
  ASSERT_EQ(got.size(), want.size());
  float worst = 0, scale = 1;
  for (size_t i = 0; i < got.size(); ++i) {
    worst = std::max(worst, std::abs(got[i] - want[i]));
    scale = std::max(scale, std::abs(want[i]));
  }
  EXPECT_LE(worst, 1e-5f * scale) << s.key() << " on " << spec.key() << " (largest output " << scale
                                  << ")";
}

}  // namespace cnnc::test
