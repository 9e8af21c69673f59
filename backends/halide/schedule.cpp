#include "backends/halide/schedule.h"

#include <algorithm>

#include "backends/halide/kernel_spec.h"
#include "backends/halide/winograd.h"

namespace cnnc::halide {

int lanes(Isa isa) { return isa == Isa::Avx512 ? 16 : isa == Isa::Avx2 ? 8 : 4; }

namespace {

// The widest power of two ≤ min(want, extent): splits must not exceed the extent.
int fit(int want, int64_t extent) {
  int v = 1;
  while (v * 2 <= want && v * 2 <= extent) v *= 2;
  return v;
}

// The register tile of the blocked and Winograd convolutions: tile_k blocks
// of B output channels × at most max_x pixels (or transform tiles), within
// the accumulator registers: AVX2 10 of 16, AVX-512 12 of 32, SSE 8 of 16.
struct RegisterTile {
  int tile_k, max_x;
};
RegisterTile register_tile(Isa isa, int B, int blocks) {
  const int regs = isa == Isa::Avx512 ? 12 : isa == Isa::Avx2 ? 10 : 8;
  const int vecs_per_block = std::max(1, B / lanes(isa));
  const int tile_k = std::max(1, std::min({regs / 4 / vecs_per_block, 2, blocks}));
  return {tile_k, std::max(1, regs / (tile_k * vecs_per_block))};
}

// The blocked convolution (templates_conv_blocked.cpp): tiles of tile_x
// pixels × tile_k blocks of B output channels, measured on ResNet-50's 3x3
// and 1x1 shapes (AVX2, 2 threads): B16 x4/x5 k1 reach 160-188 GFLOP/s, B8
// x4 k2 150-180; x6 spills.
//
// Tiles fit the output exactly where they can: a channel tile that does not
// divide the blocks shifts its last task inwards, and a pixel tile that then
// does not divide the row keeps its guards inside that task's reduction
// (MobileNetV2's 1x1 convs to 24 channels, 3 blocks, on 56x56: k2x6 0.245 ms,
// k2x5 0.242, k2x4 0.100, k1x8 0.098; AVX-512, 2 threads, in the network). So
// tile_k divides the blocks, and tile_x is the widest that divides the row
// down to half the register budget, or on AVX-512 up to 16 accumulators of
// the 32 registers (x7 on 7x7 maps: ResNet-50's layer4 1.29 -> 1.20-1.28 ms,
// and the tuner's pick there); otherwise the one wasting fewest pixels.
void blocked_conv_schedule(const KernelSpec& spec, Isa isa, Schedule& s) {
  const Geometry& out = spec.args.back();
  const int B = spec.block;
  const int64_t width = spec.out_blocked ? out.extent[0] / B : out.extent[0];
  const int64_t height = out.extent[1];
  s.vector = fit(lanes(isa), width);
  const int blocks = static_cast<int>(spec.out_blocked ? out.extent[2] : out.extent[2] / B);
  RegisterTile rt = register_tile(isa, B, blocks);
  if (blocks % rt.tile_k) rt = register_tile(isa, B, 1);  // one block per tile
  s.tile_k = rt.tile_k;
  const int max_x = rt.max_x, vecs_per_block = std::max(1, B / lanes(isa));
  const int most = isa == Isa::Avx512 ? std::max(max_x, 16 / (s.tile_k * vecs_per_block)) : max_x;
  int best = 0;
  for (int t = max_x; t >= (max_x + 1) / 2 && !best; --t)
    if (width % t == 0) best = t;
  for (int t = max_x + 1; t <= most && !best; ++t)
    if (width % t == 0) best = t;
  if (!best) {
    int64_t best_waste = width;
    for (int t = std::max(1, max_x - 1); t <= max_x; ++t) {
      const int64_t waste = (width + t - 1) / t * t - width;
      if (!best || waste < best_waste) best = t, best_waste = waste;
    }
  }
  s.tile_x = static_cast<int>(std::min<int64_t>(best, width));
  // A task covers every row unless there are too few channel groups to keep
  // two threads evenly busy: then rows are split until there are ≥ 8 tasks
  // (a one-row output, a 1x1 convolution's flat pixels, splits its tiles).
  const int64_t groups = int64_t{(blocks + s.tile_k - 1) / s.tile_k} * out.extent[3];
  const int64_t rows = height == 1 ? (width + s.tile_x - 1) / s.tile_x : height;
  const int64_t splits = std::min<int64_t>(rows, (8 + groups - 1) / groups);
  s.parallel_split = static_cast<int>((rows + splits - 1) / splits);
  // Input channels per pass over the task's tiles: all of them when their
  // weights fit 32 KiB, the smallest L1 we run on (one pass, and a blocked
  // output written straight from the registers: ResNet-50's 1x1 convs from
  // 128-256 channels ~10 % faster in the network than in passes of 64; 384
  // channels' 48 KiB were slower, as were two passes of 256), else 64 or as
  // many as keep a pass's weights within 48 KiB.
  const Geometry& w = spec.args[1];  // [B, C, S·R, K/B]
  const int64_t per_channel = int64_t{B} * s.tile_k * w.extent[2] * 4;
  s.chunk = static_cast<int>(w.extent[1] * per_channel <= 32 * 1024
                                 ? w.extent[1]
                                 : std::min<int64_t>(64, 48 * 1024 / per_channel));
}

// The Winograd convolution (templates_conv_winograd.cpp): register tiles as
// the blocked convolution's, of transform tiles × channel blocks; a task is
// parallel_split rows of tiles × chunk channel blocks. Every task reads its
// blocks' transformed weights (36·C per channel, 4× the direct weights) once,
// so tasks hold as many tile rows as they can: all of them when the whole
// transformed input fits in ~1 MiB (share_input: transformed once, read by
// every task), else as many as keep a task's own in ~512 KiB of L2. Channel
// blocks are split until there are ≥ 8 tasks for two threads (without
// share_input each task repeats its input transform, ~20 % of a task's work
// at two blocks).
void winograd_schedule(const KernelSpec& spec, Isa isa, Schedule& s) {
  const Geometry& in = spec.args[0];
  const Geometry& out = spec.args.back();
  const int B = spec.block;
  const int64_t C = int64_t{in.extent[2]} * spec.in_block;
  const int64_t Wo = spec.out_blocked ? out.extent[0] / B : out.extent[0];
  const int64_t Tx = winograd_tiles(Wo), Ty = winograd_tiles(out.extent[1]);
  const int64_t N = out.extent[3];
  const int blocks = spec.args[1].extent[3];
  const int64_t row_bytes = Tx * kWinogradPoints * C * 4;
  s.share_input = row_bytes * Ty * N <= 1024 * 1024;
  const int64_t most = s.share_input ? Ty : std::clamp<int64_t>(512 * 1024 / row_bytes, 1, Ty);
  const int64_t bands = (Ty + most - 1) / most;  // equal bands of rows
  s.parallel_split = static_cast<int>((Ty + bands - 1) / bands);
  const RegisterTile rt = register_tile(isa, B, blocks);
  s.tile_k = rt.tile_k;
  auto tasks = [&](int64_t rows, int group) {
    return (Ty + rows - 1) / rows * N * ((blocks + group - 1) / group);
  };
  int group = blocks;
  while (tasks(s.parallel_split, group) < 8 && group / 2 >= s.tile_k) group /= 2;
  s.chunk = group;
  // Few channel blocks (DenseNet's 32 filters): narrower bands of rows, each
  // reading the (then small) transformed weights again.
  int64_t rows = s.parallel_split;
  while (tasks(rows, group) < 8 && rows > 1) rows = (rows + 1) / 2;
  s.parallel_split = static_cast<int>(rows);
  s.tile_x = static_cast<int>(std::min<int64_t>(rows * Tx, rt.max_x));
  s.vector = lanes(isa);
}

// Whether fusing the pixels of a map `width` wide (tmpl::pixel_sum) beats
// vectors along its rows, for `channels` output channels. Along rows, a
// vector of fit(L, width) lanes wastes lanes at the row's end and below L
// (one vector per row also has too few accumulators: ~3/4 speed, measured).
// Fused, every lane works but each input value is gathered first (~3 cycles,
// against the channels/(2L) cycles of multiply-adds it serves): the fused
// rate is ~1/(1 + 6L/channels). Measured (AVX2, 2 threads, ResNet-18 and a
// Fashion-MNIST CNN, training): 2- and 4-wide maps of 256-512 channels
// 35-70 → ~155 GFLOP/s fused; 8-wide of 128 equal; 14-wide of 64 108 along
// rows → 61 fused; LeNet-5's 12-wide of 6 channels 0.75 ms → 7 fused.
bool pixels_pay(int64_t width, int64_t channels, Isa isa) {
  const int L = lanes(isa), V = fit(L, width);
  const int64_t vectors = (width + V - 1) / V;
  double rows = static_cast<double>(width) / static_cast<double>(vectors * L);
  if (vectors == 1) rows *= 0.75;
  const double fused = 1.0 / (1.0 + 6.0 * L / static_cast<double>(channels));
  return fused > rows;
}

// A 1x1 convolution lowered as one row of pixels (lower.cpp): its row is
// already every pixel of an image.
bool is_pointwise_row(const KernelSpec& spec) {
  const ir::Conv2dAttrs& a = spec.conv;
  const bool padded = a.pad.top || a.pad.bottom || a.pad.left || a.pad.right;
  return spec.args[1].extent[0] == 1 && spec.args[1].extent[1] == 1 && !padded &&
         spec.args.back().extent[1] == 1;
}

// Plain convolutions and their input gradients on maps where pixels_pay fill
// the lanes with pixels of every image (tmpl::pixel_sum): tiles of two
// vectors × tile_k channels, tasks of the fewest whole images holding a tile.
void fuse_pixels(const KernelSpec& spec, Isa isa, Schedule& s) {
  const Geometry& out = spec.args.back();
  const int L = lanes(isa);
  if (!pixels_pay(out.extent[0], out.extent[2], isa)) return;
  const int64_t image = int64_t{out.extent[0]} * out.extent[1];
  if (image * out.extent[3] < L) return;
  s.fuse_pixels = true;
  s.vector = L;
  s.tile_x = static_cast<int>(std::min<int64_t>(2, image * out.extent[3] / L));
  const int64_t tile = int64_t{L} * s.tile_x;
  s.parallel_split = static_cast<int>(std::min<int64_t>((tile + image - 1) / image, out.extent[3]));
}

}  // namespace

Schedule default_schedule(const KernelSpec& spec, Isa isa) {
  Schedule s;
  const Geometry& out = spec.args.back();
  const int64_t width = out.extent[0];
  s.vector = fit(lanes(isa), width);
  // Threads repay their fork-join when a kernel does enough work: output
  // elements for data movement, multiply-adds for convolutions and linear
  // layers (a 7x7x512 conv has few outputs but 115 M multiply-adds).
  int64_t work = out.elements();
  if (spec.family == Family::Conv) work *= spec.args[1].elements() / out.extent[2];
  if (spec.family == Family::Linear) work = spec.args[1].elements() * out.extent[1];
  if (spec.family == Family::ConvGradInput) work *= spec.args[1].elements() / out.extent[2];
  if (spec.family == Family::ConvGradWeight) work = spec.args[0].elements() * out.extent[0];
  s.parallel = work >= 65536;
  switch (spec.family) {
    case Family::Conv: {
      if (spec.winograd) {
        winograd_schedule(spec, isa, s);
        break;
      }
      if (spec.block) {
        blocked_conv_schedule(spec, isa, s);
        break;
      }
      // Register tile: tile_x vectors along the width × tile_k output channels,
      // 12 accumulators of 16 registers on AVX2 (24 of 32 on AVX-512). Measured
      // on ResNet-50 (AVX2, 2 threads, batch 1): k6x2 94.6 ms, k5x2 101, k6x1
      // 105, k8x1 104, k8x2 109 (spills), k12x1 114, k4x3 119, k3x4 168.
      const int64_t k = out.extent[2];
      const int64_t vectors = std::max<int64_t>(1, width / s.vector);
      s.tile_x = static_cast<int>(std::min<int64_t>(2, vectors));
      s.tile_k = static_cast<int>(std::min<int64_t>(isa == Isa::Avx512 ? 12 : 6, k));
      s.parallel_split = 1;
      if (!is_pointwise_row(spec)) fuse_pixels(spec, isa, s);
      break;
    }
    case Family::Linear: {
      // Vectorised over units (output extent 0); tiles of up to 4 batch rows
      // (tile_k) × tile_x vectors, ≤ 12 accumulators (24 on AVX-512), at
      // least two vectors wide so every weight row fetched is a whole cache
      // line. Packed weights (spec.block) take tiles of 16, 32 or 64 units.
      const int budget = isa == Isa::Avx512 ? 24 : 12;
      s.tile_k = static_cast<int>(std::min<int64_t>(4, out.extent[1]));
      const int64_t vectors = std::max<int64_t>(1, width / s.vector);
      if (!spec.block) {
        s.tile_x = static_cast<int>(std::min<int64_t>(std::max(2, 12 / s.tile_k), vectors));
        s.tile_x = std::min(s.tile_x, 4);
        break;
      }
      s.tile_x = 1;
      while (s.tile_x * 2 * s.tile_k <= budget && s.tile_x * 2 * s.vector <= kLinearPad &&
             s.tile_x * 2 <= vectors)
        s.tile_x *= 2;
      break;
    }
    case Family::ConvGradInput: {  // a convolution of dy (templates_grad.cpp)
      const int64_t vectors = std::max<int64_t>(1, width / s.vector);
      s.tile_x = static_cast<int>(std::min<int64_t>(2, vectors));
      s.tile_k = static_cast<int>(std::min<int64_t>(isa == Isa::Avx512 ? 12 : 6, out.extent[2]));
      fuse_pixels(spec, isa, s);
      break;
    }
    case Family::ConvGradWeight: {
      // tile_x vectors of output channels × tile_k input channels: 10 of 16
      // registers on AVX2 (2×5), 24 of 32 on AVX-512 (4×6), fewer vectors
      // when the channels do not fill them.
      const int64_t K = out.extent[3];
      s.vector = fit(lanes(isa), K);
      const int64_t vectors = (K + s.vector - 1) / s.vector;
      s.tile_x = static_cast<int>(std::min<int64_t>(isa == Isa::Avx512 ? 4 : 2, vectors));
      s.tile_k = isa == Isa::Avx512 ? 6 : 5;
      // Narrow maps (pixels_pay, for the K channels each gathered input
      // value serves): one flat sum over the pixels, tiles of tile_x vectors
      // × S taps × tile_k channels (12 accumulators on AVX2, 24 on
      // AVX-512). Measured on ResNet-18's training step at 64x64 (AVX2, 2
      // threads): layer4's 3x3 weight gradients 13-21 ms per row → 12
      // fused, layer3's 11-14 → 10.5; wider maps lose (layer1 10.5 → 11.9,
      // a 14-wide map of 64 channels 8.3 → 11.9, the 7x7 stem 40 → 44).
      const Geometry& dy = spec.args[1];
      if (spec.conv.groups == 1 && pixels_pay(dy.extent[0], K, isa)) {
        const int S = out.extent[0], budget = isa == Isa::Avx512 ? 24 : 12;
        s.fuse_pixels = true;
        s.tile_x = static_cast<int>(std::min<int64_t>(2, vectors));
        if (s.tile_x * S > budget) s.tile_x = 1;
        s.tile_k = std::max(1, budget / (s.tile_x * S));
      }
      break;
    }
    default:
      s.tile_k = 1;
      s.tile_x = 1;
      break;
  }
  return s;
}

}  // namespace cnnc::halide
