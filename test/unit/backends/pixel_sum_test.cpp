// The fused-pixel paths of the convolution templates (tmpl::pixel_sum) under
// schedules a tuner may try: every one computes what the row path computes
// on the same inputs (JitKernel seeds them from the spec).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "backends/halide/kernel_bench.h"
#include "backends/halide/schedule_space.h"
#include "support/numeric_diff.h"

namespace cnnc {
namespace {

halide::Geometry nchw(int w, int h, int c, int n) {
  halide::Geometry g;
  g.rank = 4;
  g.extent = {w, h, c, n};
  g.stride = {1, w, w * h, w * h * c};
  return g;
}

halide::Geometry flat(int n) {
  halide::Geometry g;
  g.rank = 1;
  g.extent = {n, 1, 1, 1};
  g.stride = {1, 0, 0, 0};
  return g;
}

// A 3x3 convolution, padding 1, of a W×W map: C → K channels, batch N.
ir::Conv2dAttrs conv3x3(int K) {
  ir::Conv2dAttrs a;
  a.filters = K;
  a.kernel = {3, 3};
  a.pad = {1, 1, 1, 1};
  return a;
}

halide::KernelSpec forward(int W, int C, int K, int N) {
  halide::KernelSpec s;
  s.family = halide::Family::Conv;
  s.conv = conv3x3(K);
  s.bias = true;
  s.args = {nchw(W, W, C, N), nchw(3, 3, C, K), flat(K), nchw(W, W, K, N)};
  return s;
}

halide::KernelSpec input_grad(int W, int C, int K, int N) {
  halide::KernelSpec s;
  s.family = halide::Family::ConvGradInput;
  s.conv = conv3x3(K);
  s.args = {nchw(W, W, K, N), nchw(3, 3, C, K), nchw(W, W, C, N)};
  return s;
}

halide::KernelSpec weight_grad(int W, int C, int K, int N) {
  halide::KernelSpec s;
  s.family = halide::Family::ConvGradWeight;
  s.conv = conv3x3(K);
  s.args = {nchw(W, W, C, N), nchw(W, W, K, N), nchw(3, 3, C, K)};
  return s;
}

std::vector<float> run(const halide::KernelSpec& spec, const halide::Schedule& s) {
  EXPECT_EQ(halide::schedule_problem(spec, s), "") << s.key();
  halide::JitKernel k(spec, s, "host", 7);
  k.run();
  return k.output();
}

void expect_same(const std::vector<float>& want, const std::vector<float>& got,
                 const std::string& what) {
  const NumericDiff d = numeric_diff(got, want, Tolerance{1e-5, 1e-6});
  EXPECT_TRUE(d.ok()) << what << ": " << d.str();
}

// Rows: the row path's schedule for the map (vectors as wide as its width).
halide::Schedule rows(int W) {
  halide::Schedule s;
  s.vector = W >= 4 ? 4 : W >= 2 ? 2 : 1;
  s.tile_x = 1;
  s.tile_k = 4;
  return s;
}

halide::Schedule fused(int V, int tile_x, int tile_k, int split) {
  halide::Schedule s;
  s.fuse_pixels = true;
  s.vector = V;
  s.tile_x = tile_x;
  s.tile_k = tile_k;
  s.parallel_split = split;
  return s;
}

TEST(PixelSum, TunedFusedSchedulesComputeWhatRowsCompute) {
  // 2x2 maps of 4 images: tiles wider than an image, task splits a tuner may
  // pick (parallel_split 1 holds fewer pixels than a tile: the template
  // widens the task), channel tiles with tails.
  for (const auto& [W, C, K, N] : {std::array<int, 4>{2, 12, 40, 4}, {3, 8, 33, 3}}) {
    const std::string shape = std::to_string(W) + "x" + std::to_string(W) + " " +
                              std::to_string(C) + "->" + std::to_string(K);
    for (const halide::KernelSpec& spec : {forward(W, C, K, N), input_grad(W, C, K, N)}) {
      const std::vector<float> want = run(spec, rows(W));
      int ran = 0;
      for (const halide::Schedule& s :
           {fused(8, 1, 6, 2), fused(8, 2, 5, 1), fused(4, 1, 7, 3), fused(4, 2, 3, 4)}) {
        if (!halide::schedule_problem(spec, s).empty()) continue;  // wider than the pixels
        expect_same(want, run(spec, s),
                    halide::family_name(spec.family) + (" " + shape) + " " + s.key());
        ++ran;
      }
      // Some must fit the pixels, or this checks nothing.
      EXPECT_GE(ran, 2) << "fused schedules run on " << halide::family_name(spec.family) << " "
                        << shape;
    }
    const halide::KernelSpec dw = weight_grad(W, C, K, N);
    halide::Schedule per_tap;
    per_tap.vector = 8;
    per_tap.tile_x = 2;
    per_tap.tile_k = 5;
    const std::vector<float> want = run(dw, per_tap);
    for (const halide::Schedule& s : {fused(8, 1, 4, 1), fused(8, 2, 2, 1), fused(4, 1, 1, 1)})
      expect_same(want, run(dw, s), "conv_grad_weight " + shape + " " + s.key());
  }
}

TEST(PixelSum, SchedulesOutsideThePixelsAreRefused) {
  const halide::KernelSpec spec = forward(2, 4, 8, 1);  // 4 pixels
  EXPECT_NE(halide::schedule_problem(spec, fused(8, 1, 4, 1)), "");
  EXPECT_EQ(halide::schedule_problem(spec, fused(4, 1, 4, 1)), "");
  halide::KernelSpec linear = spec;
  linear.family = halide::Family::Linear;
  EXPECT_NE(halide::schedule_problem(linear, fused(4, 1, 4, 1)).find("fuse_pixels"),
            std::string::npos);
}

}  // namespace
}  // namespace cnnc
