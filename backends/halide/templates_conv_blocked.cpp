// Convolution computed in blocks of output channels (NCHW[x]c), the fast path
// for every ungrouped or depthwise convolution whose filters divide by 8
// (conv_block in kernel_spec.h). Input, output and residual each come NCHW or
// already blocked (KernelSpec::in_block, out_blocked, res_blocked).
//
// Vectorised along a block of B output channels, each register tile holds
// tile_x output pixels × tile_k channel blocks; its reduction is input
// channels × kernel rows × kernel columns, reading each input pixel as one
// broadcast scalar and each weight row as one vector from the packed weights
// [B, C, S·R, K/B]. The input is first repacked into blocks of Bi channels
// (padding included), so the channels a tile reads are adjacent. A task is one
// group of tile_k channel blocks over parallel_split output rows (on a
// one-row output, a 1x1 convolution's flat pixels: parallel_split register
// tiles of the row, so a few channel groups still make tasks); it sums the
// input channels in chunks (Schedule::chunk) so the chunk's weights stay in L1
// while the task sweeps its tiles, accumulating into a per-task buffer that
// the epilogue then writes back as NCHW. Every output is still a serial sum in
// a fixed order: results do not depend on the number of threads.
#include <algorithm>
#include <optional>

#include "backends/halide/templates.h"

namespace cnnc::halide::tmpl {

using namespace Halide;

Built conv_blocked(const KernelSpec& k, const Schedule& s) {
  Built b;
  const ir::Conv2dAttrs& a = k.conv;
  const Geometry &gx = k.args[0], &gw = k.args[1], &gy = k.args.back();
  const ProductArgs args = product_args(k, b);
  const ImageParam &x = args.x, &w = args.w;
  const std::optional<ImageParam>&bias = args.bias, &res = args.res;

  // Input channels in blocks of Bi (input_blocks).
  const int xin = k.in_block;
  const int W = xin ? gx.extent[0] / xin : gx.extent[0], H = gx.extent[1];
  // Plain ints, not a structured binding: lambdas below capture them (clang 14).
  const InputBlocks blocks_in = input_blocks(k);
  const int C = blocks_in.channels, Bi = blocks_in.block;
  const int B = gw.extent[0], S = static_cast<int>(a.kernel.w);
  // Depthwise: each output channel reads its own input channel, so the input
  // block is the output block (conv_block) and there is nothing to sum across.
  const bool depthwise = a.groups > 1;
  const int CB = depthwise ? 1 : C / Bi;
  const int CH = divisor_at_most(CB, s.chunk > 0 ? std::max(1, s.chunk / Bi) : CB);
  const int sw = static_cast<int>(a.stride.w), sh = static_cast<int>(a.stride.h);
  const int dw = static_cast<int>(a.dilation.w), dh = static_cast<int>(a.dilation.h);
  const int pl = static_cast<int>(a.pad.left), pt = static_cast<int>(a.pad.top);
  const bool padded = a.pad.top || a.pad.bottom || a.pad.left || a.pad.right;
  const bool pointwise = S == 1 && a.kernel.h == 1;

  Var ox("ox"), oy("oy"), ko("k"), n("n"), ki("ki"), kb("kb"), ci("ci"), cb("cb"), ch("ch");
  // Input in blocks of Bi channels, shifted by the padding: xb(ci, x, y, cb, n).
  // A 1x1 convolution's stride is folded in, so only the pixels it reads are
  // repacked; a blocked input a 1x1 convolution reads densely is not copied.
  Expr px = pointwise ? ox * sw - pl : ox - pl, py = pointwise ? oy * sh - pt : oy - pt;
  Func xb("xb");
  const bool direct = xin && pointwise && sw == 1 && sh == 1 && !padded;
  if (xin) {
    Func xe =
        padded ? BoundaryConditions::constant_exterior(x, 0.0f, {{0, W * Bi}, {0, H}}) : Func(x);
    xb(ci, ox, oy, cb, n) = xe(ci + Bi * px, py, cb, n);
  } else {
    Func xe = padded ? BoundaryConditions::constant_exterior(x, 0.0f, {{0, W}, {0, H}}) : Func(x);
    xb(ci, ox, oy, cb, n) = xe(px, py, cb * Bi + ci, n);
  }

  // The epilogue writes NCHW, out(x, y, k, n), or blocks of B channels,
  // out(ki + B·x, y, kb, n); the residual is read in its own layout.
  Var xk("xk");
  auto residual = [&](Expr x_, Expr k_) {
    return k.res_blocked ? (*res)(k_ % B + B * x_, oy, k_ / B, n) : (*res)(x_, oy, k_, n);
  };
  RDom r(0, depthwise ? 1 : Bi, 0, S, 0, static_cast<int>(a.kernel.h), 0, CH, "r");
  Expr cblock = ch * CH + r[3];
  Expr ix = pointwise ? Expr(ox) : ox * sw + r[1] * dw;
  Expr iy = pointwise ? Expr(oy) : oy * sh + r[2] * dh;
  Func part("part");
  part(ki, ox, oy, kb, ch, n) = 0.0f;
  if (depthwise)
    part(ki, ox, oy, kb, ch, n) += w(ki, 0, r[2] * S + r[1], kb) * xb(ki, ix, iy, kb, n);
  else
    part(ki, ox, oy, kb, ch, n) +=
        w(ki, cblock * Bi + r[0], r[2] * S + r[1], kb) * xb(r[0], ix, iy, cblock, n);
  const int Ho = gy.extent[1], Wo = k.out_blocked ? gy.extent[0] / B : gy.extent[0];
  // Tiles no larger than the output: a split wider than its extent would
  // shift inwards past the start.
  const int KT = std::clamp(s.tile_k, 1, gw.extent[3]), XT = std::clamp(s.tile_x, 1, Wo);
  const int P = std::clamp(s.parallel_split, 1, Ho);
  // One-row outputs split the row into tasks of PX tiles (0: the whole row).
  const int tiles = (Wo + XT - 1) / XT;
  const int PX = Ho == 1 && s.parallel_split < tiles ? std::max(1, s.parallel_split) : 0;
  Var yo("yo"), yi("yi"), kt("kt"), kin("kin"), task("task"), xo("xo"), xi("xi"), kbo("kbo"),
      kbi("kbi"), xs("xs");
  // A depthwise task reads only its own channel blocks and rows: it repacks
  // that strip itself (it stays in cache for the task's tiles) rather than
  // the whole input making one more trip through memory. Other convolutions
  // share their repacked input across tasks.
  auto schedule_xb = [&]() {
    if (depthwise) {
      xb.compute_at(b.output, task).reorder(ci, ox, oy, cb, n);
      if (Bi >= 4) xb.vectorize(ci);
    } else if (!direct) {
      Var cbn("cbn");
      xb.compute_root().reorder(ci, ox, oy, cb, n).fuse(cb, n, cbn);
      if (Bi >= 4) xb.vectorize(ci);
      if (s.parallel) xb.parallel(cbn);
    }
  };
  // The register tile: tile_x pixels × tile_k channel blocks, in registers.
  auto schedule_part = [&](Func at, Var level) {
    part.compute_at(at, level).vectorize(ki).unroll(ox).unroll(kb);
    part.update()
        .reorder(ki, ox, kb, r[0], r[1], r[2], r[3], oy, ch, n)
        .vectorize(ki)
        .unroll(ox)
        .unroll(kb);
  };
  if (k.out_blocked && CB / CH == 1) {
    // One pass over the input channels (every depthwise convolution, and
    // most with ≤ 64 input channels): the register tile (part) is written
    // straight to the blocked output with the bias and epilogue. Through a
    // per-task accumulator it would take three more trips per output, as
    // much as a depthwise convolution's nine multiply-adds. Same sums in the
    // same order as below.
    Var xt("xt"), xu("xu");
    Expr v = part(xk % B, xk / B, oy, ko, 0, n);
    if (bias) v = (*bias)(ko * B + xk % B) + v;
    if (res) v = v + residual(xk / B, ko * B + xk % B);
    Func out("out");
    out(xk, oy, ko, n) = activate(k.epilogue.act, v);
    fix_output(out, gy);
    // Tasks of PX tiles of the row, or all of it (xs has extent 1). The last
    // task shifts inwards, recomputing a few tiles before it (same values),
    // so every task's tiles are whole.
    // (Split as tiles, not pixels: a shifted pixel range hides the tiles'
    // constant width from Halide, and the register tile becomes a buffer.)
    out.split(oy, yo, yi, P, TailStrategy::GuardWithIf)
        .split(ko, kt, kin, KT)
        .split(xk, xo, xi, B)
        .split(xo, xt, xu, XT)
        .split(xt, xs, xt, PX ? PX : tiles, TailStrategy::ShiftInwards)
        .reorder(xi, xu, kin, xt, yi, xs, kt, yo, n)
        .vectorize(xi)
        .unroll(xu)
        .unroll(kin)
        .fuse(xs, kt, task)
        .fuse(task, yo, task)
        .fuse(task, n, task);
    if (s.parallel) out.parallel(task);
    schedule_part(out, xt);
    b.output = out;
    schedule_xb();
    return b;
  }
  RDom rc(0, CB / CH, "rc");
  Func acc("acc");
  acc(ki, ox, oy, kb, n) = bias ? (*bias)(kb * B + ki) : Expr(0.0f);
  acc(ki, ox, oy, kb, n) += part(ki, ox, oy, kb, rc, n);
  Func out("out");
  if (k.out_blocked) {
    Expr v = acc(xk % B, xk / B, oy, ko, n);
    if (res) v = v + residual(xk / B, ko * B + xk % B);
    out(xk, oy, ko, n) = activate(k.epilogue.act, v);
  } else {
    Expr v = acc(ko % B, ox, oy, ko / B, n);
    if (res) v = v + residual(ox, ko);
    out(ox, oy, ko, n) = activate(k.epilogue.act, v);
  }
  fix_output(out, gy);

  // Tails of the pure output shift inwards (a conv never works in place); the
  // accumulation is an update, so its tails are guarded instead.
  out.split(oy, yo, yi, P, TailStrategy::GuardWithIf);
  // A task's pixels, as above (every task's accumulator the same size).
  const int segment = PX ? PX * XT : Wo;
  if (k.out_blocked) {
    out.split(ko, kt, kin, KT)
        .split(xk, xo, xi, B)
        .split(xo, xs, xo, segment, TailStrategy::ShiftInwards)
        .reorder(xi, xo, kin, yi, xs, kt, yo, n)
        .vectorize(xi);
  } else {
    out.split(ko, kt, kin, B * KT)
        .split(ox, xs, ox, segment, TailStrategy::ShiftInwards)
        .reorder(ox, kin, yi, xs, kt, yo, n)
        .vectorize(ox, std::min(s.vector, segment), TailStrategy::GuardWithIf);
    // The NCHW rows read acc by vectors of pixels (stride B) with a guarded tail.
    pad_storage(acc, acc.args()[1], std::min(s.vector, segment));
  }
  out.fuse(xs, kt, task).fuse(task, yo, task).fuse(task, n, task);
  if (s.parallel) out.parallel(task);
  acc.compute_at(out, task).vectorize(ki);
  acc.update()
      // Segments are whole tiles, but their shifted start hides that from
      // Halide's simplifier: rounding up keeps guards out of the tile loop.
      .split(ox, xo, xi, XT, PX ? TailStrategy::RoundUp : TailStrategy::GuardWithIf)
      .split(kb, kbo, kbi, KT, TailStrategy::GuardWithIf)
      .reorder(ki, xi, kbi, xo, oy, kbo, rc, n)
      .vectorize(ki)
      .unroll(xi)
      .unroll(kbi);
  schedule_part(acc, xo);
  b.output = out;
  schedule_xb();
  return b;
}

}  // namespace cnnc::halide::tmpl
