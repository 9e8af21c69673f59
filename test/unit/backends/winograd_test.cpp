// Winograd F(4x4, 3x3) convolutions: the weight transform against the direct
// sum, where the lowering chooses it, the default schedule's tasks, and the
// template under task splits a tuner may try (each computes what the default
// schedule computes, to rounding).
#include "backends/halide/winograd.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <iostream>

#include "backends/halide/kernel_bench.h"
#include "backends/halide/lower.h"
#include "backends/halide/schedule_space.h"
#include "frontend/load_network.h"
#include "passes/pass_manager.h"
#include "passes/passes.h"
#include "test/unit/backends/jit_check.h"
#include "test/unit/backends/optimised_graph.h"

namespace cnnc {
namespace {

using test::optimised;

// 1x1 -> 3x3 -> 1x1 on a C-channel W x W map of N images: the 3x3 reads
// blocks and writes blocks, or NCHW when it is also a graph output.
std::string chain(int N, int C, int W, bool nchw_out) {
  const std::string c = std::to_string(C);
  return "graph \"t\" {\n  input %x: f32[" + std::to_string(N) + ", " + c + ", " +
         std::to_string(W) + ", " + std::to_string(W) + "]\n  param @a.weight: f32[" + c + ", " +
         c + ", 1, 1]\n  param @b.weight: f32[" + c + ", " + c + ", 3, 3]\n  param @b.bias: f32[" +
         c + "]\n  param @c.weight: f32[" + c + ", " + c +
         ", 1, 1]\n  %a = conv2d(%x, @a.weight) {filters=" + c +
         ", kernel=[1, 1], bias=false}\n  %b = conv2d(%a, @b.weight, @b.bias, %a) {filters=" + c +
         ", kernel=[3, 3], pad=[1, 1, 1, 1], epilogue=residual+relu}\n  %c = conv2d(%b, "
         "@c.weight) {filters=" +
         c + ", kernel=[1, 1], bias=false}\n  output %c\n" + (nchw_out ? "  output %b\n" : "") +
         "}\n";
}

halide::KernelSpec middle(int N, int C, int W, bool winograd = true, bool nchw_out = false) {
  ir::Graph g = optimised(chain(N, C, W, nchw_out));
  halide::LoweredModel m;
  DiagnosticEngine diag(std::cerr);
  halide::LowerOptions o;
  o.winograd = winograd;
  EXPECT_TRUE(halide::lower(g, m, diag, o));
  return m.specs.at(static_cast<size_t>(m.calls.at(1).spec));
}

// F(4x4, 3x3) with the transformed, packed weights reproduces the direct
// correlation of one 6x6 input tile (in double, so only the weights' float
// rounding remains), for every filter of two blocks and both channels.
TEST(Winograd, TransformedWeightsComputeTheConvolution) {
  const int K = 16, C = 2, B = 8;
  std::vector<float> w(static_cast<size_t>(K * C * 9));
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>((i * 37 % 101) / 50.0 - 1.0);
  double d[2][6][6];
  for (int c = 0; c < C; ++c)
    for (int y = 0; y < 6; ++y)
      for (int x = 0; x < 6; ++x) d[c][y][x] = ((c * 36 + y * 6 + x) * 53 % 97) / 48.0 - 1.0;
  const std::vector<float> u = halide::winograd_weights(w, K, C, B);
  ASSERT_EQ(u.size(), static_cast<size_t>(K * C * halide::kWinogradPoints));
  const auto& BT = halide::kWinogradBT;
  const auto& AT = halide::kWinogradAT;
  for (int k = 0; k < K; ++k) {
    double m[6][6] = {};
    for (int c = 0; c < C; ++c)
      for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 6; ++j) {
          double v = 0;  // (Bᵀ d B)[i][j]
          for (int a = 0; a < 6; ++a)
            for (int b = 0; b < 6; ++b) v += BT[i][a] * d[c][a][b] * BT[j][b];
          m[i][j] += v * u[static_cast<size_t>(((k / B * 36 + i * 6 + j) * C + c) * B + k % B)];
        }
    for (int oy = 0; oy < 4; ++oy)
      for (int ox = 0; ox < 4; ++ox) {
        double y = 0, direct = 0;
        for (int i = 0; i < 6; ++i)
          for (int j = 0; j < 6; ++j) y += AT[oy][i] * m[i][j] * AT[ox][j];
        for (int c = 0; c < C; ++c)
          for (int r = 0; r < 3; ++r)
            for (int s = 0; s < 3; ++s)
              direct +=
                  d[c][oy + r][ox + s] * w[static_cast<size_t>(((k * C + c) * 3 + r) * 3 + s)];
        EXPECT_NEAR(y, direct, 1e-5) << "filter " << k << " output " << ox << "," << oy;
      }
  }
}

// Winograd where it pays, and only with the option on.
TEST(Winograd, LoweringChoosesItWhereItApplies) {
  ir::Conv2dAttrs a;
  a.filters = 32;
  a.kernel = {3, 3};
  EXPECT_TRUE(halide::winograd_applies(a, 32, 16, 16, 1, true));
  EXPECT_FALSE(halide::winograd_applies(a, 16, 16, 16, 1, true));  // few channels
  EXPECT_FALSE(halide::winograd_applies(a, 32, 7, 7, 1, true));    // 4 tiles
  EXPECT_TRUE(halide::winograd_applies(a, 32, 7, 7, 4, true));     // 16 over the batch
  EXPECT_FALSE(halide::winograd_applies(a, 32, 16, 16, 1, false));
  a.stride = {2, 2};
  EXPECT_FALSE(halide::winograd_applies(a, 32, 16, 16, 1, true));
  a.stride = {1, 1};
  a.dilation = {2, 2};
  EXPECT_FALSE(halide::winograd_applies(a, 32, 16, 16, 1, true));

  const char* net = R"(graph "t" {
  input %x: f32[1, 32, 16, 16]
  param @a.weight: f32[32, 32, 1, 1]
  param @b.weight: f32[32, 32, 3, 3]
  param @c.weight: f32[32, 32, 1, 1]
  %a = conv2d(%x, @a.weight) {filters=32, kernel=[1, 1], bias=false}
  %b = conv2d(%a, @b.weight) {filters=32, kernel=[3, 3], pad=[1, 1, 1, 1], bias=false}
  %c = conv2d(%b, @c.weight) {filters=32, kernel=[1, 1], bias=false}
  output %c
})";
  for (bool on : {true, false}) {
    ir::Graph g = optimised(net);
    halide::LoweredModel m;
    DiagnosticEngine diag(std::cerr);
    halide::LowerOptions o;
    o.winograd = on;
    ASSERT_TRUE(halide::lower(g, m, diag, o));
    ASSERT_EQ(m.calls.size(), 3u);
    const halide::KernelSpec& b = m.specs[static_cast<size_t>(m.calls[1].spec)];
    EXPECT_EQ(b.winograd, on);
    EXPECT_EQ(b.args[1].extent[2], on ? 36 : 9);  // [B, C, points or taps, K/B]
    EXPECT_EQ(b.key().find("winograd=1") != std::string::npos, on);
  }
}

// The tasks of the default schedule (AVX-512 and AVX2): every tile row in
// one band and the input transformed once where it fits ~1 MiB (ResNet-50's
// 14x14x256), else bands of rows whose input fits ~512 KiB (56x56x64: 14 rows
// in bands of <= 4);
// channel blocks split until there are >= 8 tasks.
TEST(Winograd, DefaultTasks) {
  for (halide::Isa isa : {halide::Isa::Avx512, halide::Isa::Avx2}) {
    const halide::KernelSpec deep = middle(1, 256, 14);
    ASSERT_TRUE(deep.winograd);
    const halide::Schedule d = halide::default_schedule(deep, isa);
    EXPECT_TRUE(d.share_input);
    EXPECT_EQ(d.parallel_split, 4);
    EXPECT_EQ(d.chunk, 2);  // 16 blocks of 16 channels in 8 tasks
    EXPECT_EQ(halide::schedule_problem(deep, d), "");
    EXPECT_TRUE(halide::ScheduleSpace(deep, isa, d).accepts(d));

    const halide::KernelSpec wide = middle(1, 64, 56);
    ASSERT_TRUE(wide.winograd);
    const halide::Schedule w = halide::default_schedule(wide, isa);
    EXPECT_FALSE(w.share_input);
    EXPECT_EQ(w.parallel_split, 4);
    EXPECT_EQ(halide::schedule_problem(wide, w), "");
    EXPECT_TRUE(halide::ScheduleSpace(wide, isa, w).accepts(w));
  }
}

// Every task split computes what the default schedule computes: each output's
// sums run in one order whatever the tiles, tasks and sharing (LLVM may fuse a
// transform's multiply and add differently: a few ulp, so within 1e-5).
TEST(Winograd, TunedSchedulesComputeWhatTheDefaultComputes) {
  for (const auto& [N, C, W, nchw] : {std::array<int, 4>{1, 32, 13, 0}, {2, 48, 9, 1}}) {
    const halide::KernelSpec spec = middle(N, C, W, true, nchw);
    ASSERT_TRUE(spec.winograd) << C << " " << W;
    EXPECT_EQ(spec.out_blocked, !nchw);
    const halide::Schedule def = halide::default_schedule(spec, halide::Isa::Avx2);
    halide::JitKernel base(spec, def, "host", 11);
    base.run();
    const std::vector<float> want = base.output();
    // {share_input, parallel_split, chunk, tile_x, tile_k}: bands with and
    // without a short last one, channel groups of 1-3 blocks, register tiles
    // wider than a band's tiles.
    for (const auto& [share, split, chunk, x, k] : {std::array<int, 5>{0, 1, 1, 1, 1},
                                                    {0, 2, 3, 5, 1},
                                                    {0, 3, 2, 8, 2},
                                                    {1, 1, 2, 3, 2},
                                                    {1, 3, 1, 5, 1},
                                                    {1, 2, 3, 8, 1}}) {
      halide::Schedule s = def;
      s.share_input = share;
      s.parallel_split = split;
      s.chunk = chunk;
      s.tile_x = x;
      s.tile_k = k;
      EXPECT_FALSE(s == def) << "a candidate equal to the default checks nothing: " << s.key();
      test::expect_computes(spec, s, want, 11);
    }
  }
}

}  // namespace
}  // namespace cnnc
