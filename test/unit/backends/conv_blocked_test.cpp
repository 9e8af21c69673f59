// The blocked convolution's default register tiles and tasks, and its
// template under the task splits of a one-row output (a 1x1 convolution's
// flat pixels): every split computes what the whole row computes.
#include <gtest/gtest.h>

#include <array>
#include <iostream>

#include "backends/halide/kernel_bench.h"
#include "backends/halide/kernel_spec.h"
#include "backends/halide/lower.h"
#include "backends/halide/schedule_space.h"
#include "test/unit/backends/jit_check.h"
#include "test/unit/backends/optimised_graph.h"

namespace cnnc {
namespace {

using test::optimised;

// A 3x3 conv (C -> C, blocked output) into a 1x1 conv C -> K on a W x W map
// of N images; the 1x1's output is blocked when a third conv reads it, else
// it is the graph's NCHW output. Returns the 1x1's kernel.
halide::KernelSpec pointwise(int N, int C, int K, int W, bool blocked_out) {
  const std::string c = std::to_string(C), k = std::to_string(K);
  std::string text = "graph \"t\" {\n  input %x: f32[" + std::to_string(N) + ", " + c + ", " +
                     std::to_string(W) + ", " + std::to_string(W) + "]\n  param @a.weight: f32[" +
                     c + ", " + c + ", 3, 3]\n  param @b.weight: f32[" + k + ", " + c +
                     ", 1, 1]\n  param @b.bias: f32[" + k + "]\n  param @c.weight: f32[" + k +
                     ", " + k + ", 1, 1]\n  %a = conv2d(%x, @a.weight) {filters=" + c +
                     ", kernel=[3, 3], pad=[1, 1, 1, 1], bias=false}\n  %b = conv2d(%a, "
                     "@b.weight, @b.bias) {filters=" +
                     k + ", kernel=[1, 1], epilogue=relu}\n";
  text += blocked_out ? "  %c = conv2d(%b, @c.weight) {filters=" + k +
                            ", kernel=[1, 1], bias=false}\n  output %c\n}\n"
                      : "  output %b\n}\n";
  ir::Graph g = optimised(text);
  halide::LoweredModel m;
  DiagnosticEngine diag(std::cerr);
  EXPECT_TRUE(halide::lower(g, m, diag, {}));
  const halide::KernelSpec spec = m.specs.at(static_cast<size_t>(m.calls.at(1).spec));
  EXPECT_EQ(spec.args.back().extent[1], 1);  // one row of pixels
  EXPECT_EQ(spec.out_blocked, blocked_out);
  return spec;
}

// Register tiles fit exactly: tile_k divides the channel blocks (a shifted
// last channel tile kept the pixel tiles' guards in its reduction, 2.4x
// slower), tile_x divides the row where a width in the register budget does;
// a one-row output with few channel groups still gives two threads ≥ 8 tasks.
TEST(ConvBlocked, DefaultTilesFitAndOneRowOutputsSplit) {
  // MobileNetV2's 1x1 conv to 24 channels (3 blocks of 8) on 56x56.
  const halide::KernelSpec few = pointwise(1, 96, 24, 56, true);
  ASSERT_EQ(few.block, 8);
  const halide::Schedule s = halide::default_schedule(few, halide::Isa::Avx512);
  EXPECT_EQ(s.tile_k, 1);
  EXPECT_EQ(s.tile_x, 8);  // 3136 = 392 x 8
  const int tiles = 3136 / 8;
  EXPECT_EQ(s.parallel_split, (tiles + 2) / 3);  // 3 groups x 3 parts of the row
  EXPECT_EQ(halide::schedule_problem(few, s), "");
  EXPECT_TRUE(halide::ScheduleSpace(few, halide::Isa::Avx512, s).accepts(s));
  // Enough channel groups: every task takes the whole row.
  const halide::KernelSpec many = pointwise(1, 32, 256, 14, true);
  const halide::Schedule m = halide::default_schedule(many, halide::Isa::Avx512);
  EXPECT_EQ(m.tile_k, 2);
  EXPECT_EQ(m.tile_x, 4);  // 196 = 49 x 4
  EXPECT_EQ(m.parallel_split, 49);
  const halide::Schedule a = halide::default_schedule(many, halide::Isa::Avx2);
  EXPECT_EQ(a.tile_k, 1);  // AVX2: k1 x4 of two ymm each
  EXPECT_EQ(a.tile_x, 4);
  // A 7x7 map: none of 6..3 divides its 49 pixels, x7 k2 is 14 of the 32
  // AVX-512 registers (AVX2 has no room: the fewest pixels wasted, x5).
  const halide::KernelSpec small = pointwise(1, 32, 256, 7, true);
  EXPECT_EQ(halide::default_schedule(small, halide::Isa::Avx512).tile_x, 7);
  EXPECT_EQ(halide::default_schedule(small, halide::Isa::Avx2).tile_x, 5);
  // One pass over the input channels when their weights fit 32 KiB (256
  // channels x 2 blocks of 16), else passes of 64.
  EXPECT_EQ(s.chunk, 96);
  EXPECT_EQ(halide::default_schedule(pointwise(1, 256, 64, 8, true), halide::Isa::Avx512).chunk,
            256);
  EXPECT_EQ(halide::default_schedule(pointwise(1, 512, 64, 8, true), halide::Isa::Avx512).chunk,
            64);
}

// Every split of the row into tasks, with and without a short last task, in
// one pass over the input channels or through the per-task accumulator, to a
// blocked or an NCHW output, computes what the whole row computes: each
// output is one serial sum in a fixed order whatever the tasks.
TEST(ConvBlocked, OneRowTaskSplitsComputeTheWholeRow) {
  for (const auto& [N, C, K, W, blocked] :
       {std::array<int, 5>{1, 48, 24, 9, 1}, {2, 32, 32, 7, 0}}) {
    const halide::KernelSpec spec = pointwise(N, C, K, W, blocked);
    halide::Schedule whole = halide::default_schedule(spec, halide::Isa::Avx2);
    whole.tile_x = 3;
    whole.parallel_split = (W * W + 2) / 3;
    whole.chunk = 0;
    halide::JitKernel base(spec, whole, "host", 5);
    base.run();
    const std::vector<float> want = base.output();
    // {parallel_split (tiles per task), chunk, tile_x, tile_k}
    for (const auto& [split, chunk, x, k] : {std::array<int, 4>{1, 0, 3, 1},
                                             {4, 0, 3, 2},
                                             {5, 16, 4, 1},
                                             {26, 8, 3, 2},
                                             {2, 8, 2, 1}}) {
      halide::Schedule s = whole;
      s.parallel_split = split;
      s.chunk = chunk;
      s.tile_x = x;
      s.tile_k = k;
      EXPECT_FALSE(s == whole) << "a candidate equal to the base checks nothing: " << s.key();
      test::expect_computes(spec, s, want, 5);
    }
  }
}

}  // namespace
}  // namespace cnnc
