// Convolution and linear layers with the shared fused epilogue
// (bias or folded batch norm → residual add → activation).
//
// Convolution, NCHW, vectorised along the output width: each task computes a
// register tile of tile_k output channels × tile_x vectors of one output row
// with the whole reduction (input channels × kernel rows × kernel columns)
// inside the tile, so the accumulators never leave the registers. Rows (and
// images) are the parallel dimension; every output is a serial sum in a fixed
// order, so results do not depend on the number of threads. 1x1 convolutions
// without padding come as one row of H·W pixels (lower.cpp); their channel
// tiles are the parallel tasks.
#include <algorithm>
#include <optional>

#include "backends/halide/templates.h"

namespace cnnc::halide::tmpl {

using namespace Halide;

void schedule_tile_accumulator(Func& acc, Func& out, const Var& xo, const RDom& r, int V) {
  const std::vector<Var> a = acc.args();  // x, y, channel, n
  Var xv("xv"), xl("xl");
  acc.compute_at(out, xo);
  acc.split(a[0], xv, xl, V).vectorize(xl).unroll(xv).unroll(a[2]);
  acc.update()
      .split(a[0], xv, xl, V)
      .reorder(xl, xv, a[2], r.x, r.y, r.z, a[1], a[3])
      .vectorize(xl)
      .unroll(xv)
      .unroll(a[2]);
}

PixelStages pixel_sum(const PixelSum& p, const Geometry& gy) {
  PixelStages st;
  const int Wo = gy.extent[0], Ho = gy.extent[1];
  st.width = Wo;
  st.image = Wo * Ho;
  st.pixels = st.image * gy.extent[3];
  Var q("q"), ts("ts"), tr("tr"), ch("ch"), oc("oc"), x("x"), y("y"), n("n");
  st.col = Func("col");
  Expr xx = q % Wo, yy = (q / Wo) % Ho, nn = q / (Wo * Ho);
  st.col(q, ts, tr, ch) =
      p.src(xx * p.step_x + ts * p.dil_x + p.off_x, yy * p.step_y + tr * p.dil_y + p.off_y, ch, nn);
  st.r = RDom(0, p.S, 0, p.R, 0, p.in_group, "r");
  const RDom& r = st.r;
  Expr ich = p.grouped ? (oc / p.out_group) * p.in_group + r.z : Expr(r.z);
  st.acc = Func("acc");
  st.acc(q, oc) = p.init(oc);
  st.acc(q, oc) += p.wt(r.x, r.y, r.z, oc) * st.col(q, r.x, r.y, ich);
  st.group = Func("group");
  st.group(q, oc) = st.acc(q, oc);
  st.sum = Func("sum");
  st.sum(x, y, oc, n) = st.group(x + Wo * (y + Ho * n), oc);
  st.col_bytes = int64_t{p.S} * p.R * p.channels * 4;
  return st;
}

void schedule_pixel_sum(PixelStages& st, Func& out, const Schedule& s) {
  const std::vector<Var> a = out.args();  // x, y, oc, n
  const int V = s.vector, T = s.vector * s.tile_x;
  // A task is parallel_split whole images: the sum's stages see exact pixel
  // ranges (a range cut inside an image would reach them through x = p mod
  // Wo, bounded by the whole row). Tails shift inwards (recomputing a few
  // outputs): the output never aliases an input.
  // At least a tile's worth of pixels per task (schedule_problem keeps a tile
  // within all the pixels), whatever parallel_split a tuner tried.
  const int N = st.pixels / st.image;
  const int images = std::clamp(std::max(s.parallel_split, (T + st.image - 1) / st.image), 1, N);
  Var task("task"), ni("ni");
  out.split(a[3], task, ni, images).reorder(a[0], a[1], a[2], ni, task);
  int OV = 1;  // the output's rows are copied in vectors that fit them
  while (OV * 2 <= std::min(V, st.width)) OV *= 2;
  if (OV > 1) out.vectorize(a[0], OV, TailStrategy::GuardWithIf);
  if (s.parallel) out.parallel(task);
  // The group's pixels in register tiles of V·tile_x pixels × tile_k channels,
  // tiles_per_gather tiles reading one gathered block of the input.
  const std::vector<Var> g = st.group.args();  // q, oc
  Var qo("qo"), qi("qi"), kt("kt"), ki("ki"), blk("blk"), tile("tile"), pv("pv"), pl("pl");
  const int in_task = images * st.image;
  const int tiles = std::max(1, in_task / T);
  const int64_t tile_bytes = int64_t{T} * st.col_bytes;
  const int gather_tiles = static_cast<int>(std::clamp<int64_t>(160 * 1024 / tile_bytes, 1, tiles));
  st.group.compute_at(out, task);
  st.group.split(g[0], qo, qi, T, TailStrategy::ShiftInwards)
      .split(g[1], kt, ki, s.tile_k, TailStrategy::ShiftInwards)
      .split(qo, blk, tile, gather_tiles, TailStrategy::ShiftInwards)
      .reorder(qi, ki, tile, kt, blk)
      .split(qi, pv, pl, V)
      .vectorize(pl)
      .unroll(pv)
      .unroll(ki);
  // Too few images for the threads (batch 1): the channel tiles of each
  // block are the parallel work instead.
  if (s.parallel && (N + images - 1) / images < 4) st.group.parallel(kt);
  const std::vector<Var> c = st.acc.args();  // q, oc
  const RDom& r = st.r;
  st.acc.compute_at(st.group, tile);
  st.acc.split(c[0], pv, pl, V).vectorize(pl).unroll(pv).unroll(c[1]);
  st.acc.update()
      .split(c[0], pv, pl, V)
      .reorder(pl, pv, c[1], r.x, r.y, r.z)
      .vectorize(pl)
      .unroll(pv)
      .unroll(c[1]);
  // The block's pixels gathered once, read by every channel tile: the block
  // of the input stays in L2 while the weights stream past.
  st.col.compute_at(st.group, blk).vectorize(st.col.args()[0], V);
}

Built conv(const KernelSpec& k, const Schedule& s) {
  Built b;
  const ir::Conv2dAttrs& a = k.conv;
  const Geometry &gx = k.args[0], &gw = k.args[1];
  const ProductArgs args = product_args(k, b);
  const ImageParam &x = args.x, &w = args.w;
  const std::optional<ImageParam>&bias = args.bias, &res = args.res;

  const int W = gx.extent[0], H = gx.extent[1];
  const int S = gw.extent[0], R = gw.extent[1], Cg = gw.extent[2], K = gw.extent[3];
  const int Kg = K / static_cast<int>(a.groups);
  const bool padded = a.pad.top || a.pad.bottom || a.pad.left || a.pad.right;

  Var ox("ox"), oy("oy"), ko("k"), n("n");
  Func xp("xp");
  if (padded)
    xp = BoundaryConditions::constant_exterior(x, 0.0f, {{0, W}, {0, H}});
  else
    xp(ox, oy, ko, n) = x(ox, oy, ko, n);

  RDom r(0, S, 0, R, 0, Cg, "r");
  Expr ix = ox * static_cast<int>(a.stride.w) - static_cast<int>(a.pad.left) +
            r.x * static_cast<int>(a.dilation.w);
  Expr iy = oy * static_cast<int>(a.stride.h) - static_cast<int>(a.pad.top) +
            r.y * static_cast<int>(a.dilation.h);
  // A strided 1x1 conv whose output is one row of pixels (lower.cpp): the
  // pixels it reads are gathered into a dense row first.
  const Geometry& gy = k.args.back();
  const bool gather = S == 1 && R == 1 && !padded && gy.extent[1] == 1 && H > 1;
  if (gather) {
    const int sw = static_cast<int>(a.stride.w), sh = static_cast<int>(a.stride.h);
    const int Wo = (W - 1) / sw + 1;
    xp = Func("xg");
    xp(ox, oy, ko, n) = x((ox % Wo) * sw, (ox / Wo) * sh, ko, n);
    ix = ox;
    iy = oy;
  }
  if (s.fuse_pixels && !gather) {
    PixelSum p;
    p.src = xp;
    p.wt(ox, oy, ko, n) = w(ox, oy, ko, n);
    p.init(ko) = bias ? (*bias)(ko) : Expr(0.0f);
    p.S = S, p.R = R, p.in_group = Cg, p.out_group = Kg, p.grouped = a.groups != 1;
    p.channels = gx.extent[2];
    p.step_x = static_cast<int>(a.stride.w), p.step_y = static_cast<int>(a.stride.h);
    p.dil_x = static_cast<int>(a.dilation.w), p.dil_y = static_cast<int>(a.dilation.h);
    p.off_x = -static_cast<int>(a.pad.left), p.off_y = -static_cast<int>(a.pad.top);
    PixelStages st = pixel_sum(p, k.args.back());
    Expr v = st.sum(ox, oy, ko, n);
    if (res) v = v + (*res)(ox, oy, ko, n);
    Func out("out");
    out(ox, oy, ko, n) = activate(k.epilogue.act, v);
    fix_output(out, k.args.back());
    schedule_pixel_sum(st, out, s);
    b.output = out;
    return b;
  }
  Expr ic = a.groups == 1 ? Expr(r.z) : (ko / Kg) * Cg + r.z;
  // Strided rows: each tap column's input pixels are gathered into a dense
  // row per output row (xs), which the reduction reads as dense vectors.
  // (Reading a padded row with stride-2 or -3 vector loads instead, Halide
  // 14 emitted aligned loads at unaligned stack addresses: SIGSEGV, found by
  // the differential tester.)
  const int sw = static_cast<int>(a.stride.w);
  const bool strided = sw > 1 && !gather;
  Func xs("xs");
  Var tap("tap");
  if (strided) {
    xs(ox, tap, oy, ko, n) = xp(
        ox * sw + tap * static_cast<int>(a.dilation.w) - static_cast<int>(a.pad.left), oy, ko, n);
  }
  Func acc("acc");
  acc(ox, oy, ko, n) = bias ? (*bias)(ko) : Expr(0.0f);
  acc(ox, oy, ko, n) +=
      w(r.x, r.y, r.z, ko) * (strided ? xs(ox, r.x, iy, ic, n) : xp(ix, iy, ic, n));
  Expr v = acc(ox, oy, ko, n);
  if (res) v = v + (*res)(ox, oy, ko, n);
  Func out("out");
  out(ox, oy, ko, n) = activate(k.epilogue.act, v);
  fix_output(out, k.args.back());

  const int V = s.vector, TX = s.tile_x, TK = s.tile_k;
  Var xo("xo"), xi("xi"), kt("kt"), ki("ki"), row("row"), xv("xv"), xl("xl"), task("task");
  // Tails shift inwards (recomputing a few outputs): a conv never works in place.
  out.split(ox, xo, xi, V * TX).split(ko, kt, ki, TK);
  if ((H == 1 || gather) && !padded) {
    // One row (a 1x1 conv over flattened pixels): the channel tiles are the
    // parallel tasks, each streaming the whole input past its weights.
    out.reorder(xi, ki, xo, oy, n, kt).fuse(oy, n, row).fuse(row, kt, task);
  } else {
    out.reorder(xi, ki, xo, kt, oy, n).fuse(oy, n, row);
    task = row;
  }
  out.split(xi, xv, xl, V).vectorize(xl).unroll(xv).unroll(ki);
  if (s.parallel) out.parallel(task);
  schedule_tile_accumulator(acc, out, xo, r, V);
  // The padded input rows a task reads, copied once per output row: cheaper
  // than a boundary test inside the reduction (strided ones as xs, the
  // boundary test then in the copy).
  if (strided) {
    xs.compute_at(out, task).vectorize(ox, V, TailStrategy::GuardWithIf);
    pad_storage(xs, ox, V);
  } else if (padded) {
    xp.compute_at(out, row).vectorize(xp.args()[0], V, TailStrategy::GuardWithIf);
    pad_storage(xp, xp.args()[0], V);
  }
  if (gather) {
    xp.compute_root().parallel(xp.args()[2]).vectorize(xp.args()[0], V, TailStrategy::GuardWithIf);
    pad_storage(xp, xp.args()[0], V);
  }
  b.output = out;
  return b;
}

// x [F, N], weights [units, F] (innermost first; any strides: training's
// products read them in place) or packed in blocks (k.block: [16, F, U'/16],
// inference): vectorised along the units, each task a tile of tile_x vectors
// × tile_k batch rows with the whole reduction inside.
Built linear(const KernelSpec& k, const Schedule& s) {
  Built b;
  const Geometry& gx = k.args[0];
  const ProductArgs args = product_args(k, b);
  const ImageParam &x = args.x, &w = args.w;
  const std::optional<ImageParam>&bias = args.bias, &res = args.res;
  const int U = k.args.back().extent[0], PB = k.block;

  Var u("u"), n("n");
  RDom r(0, gx.extent[0], "r");
  Func acc("acc"), out("out");
  // Packed weights (PB > 0) are zero beyond U up to a multiple of
  // kLinearPad, so whole tiles are computed; the bias is clamped there.
  acc(u, n) = bias ? (*bias)(PB ? min(u, U - 1) : Expr(u)) : Expr(0.0f);
  acc(u, n) += (PB ? w(u % PB, r, u / PB) : w(u, r)) * x(r, n);
  Expr v = acc(u, n);
  if (res) v = v + (*res)(u, n);
  out(u, n) = activate(k.epilogue.act, v);
  fix_output(out, k.args.back());

  // A register tile is tile_x vectors of units × tile_k rows of the batch, so
  // each weight vector is loaded once per tile_k rows: at batch 8 the weights
  // (AlexNet's and VGG's 100-400 MB) are streamed once, not eight times.
  const int V = s.vector;
  const int TN = std::clamp(s.tile_k, 1, k.args.back().extent[1]);
  Var uo("uo"), ui("ui"), uv("uv"), ul("ul"), no("no"), ni("ni");
  if (PB) {
    // Tiles of whole blocks, aligned to them (u % PB then folds to a dense
    // vector): the batch's row tiles run inside a tile of units, so its
    // weights are read from memory once and then from cache.
    int T = PB;  // a power of two times PB, so that it divides kLinearPad
    while (T < V * s.tile_x && T < kLinearPad) T *= 2;
    out.split(u, uo, ui, T, TailStrategy::GuardWithIf)
        .split(n, no, ni, TN)
        .reorder(ui, ni, no, uo)
        .split(ui, uv, ul, V, TailStrategy::GuardWithIf)
        .vectorize(ul)
        .unroll(uv)
        .unroll(ni);
    if (s.parallel) out.parallel(uo);
    acc.compute_at(out, no).align_bounds(u, T);
  } else {
    const int T = V * s.tile_x;
    out.split(u, uo, ui, T).split(n, no, ni, TN).reorder(ui, ni, uo, no);
    out.split(ui, uv, ul, V).vectorize(ul).unroll(uv).unroll(ni);
    if (s.parallel) out.parallel(uo);
    acc.compute_at(out, uo);
  }
  acc.split(u, uv, ul, V).vectorize(ul).unroll(uv).unroll(n);
  acc.update().split(u, uv, ul, V).reorder(ul, uv, n, r).vectorize(ul).unroll(uv).unroll(n);
  b.output = out;
  return b;
}

}  // namespace cnnc::halide::tmpl
