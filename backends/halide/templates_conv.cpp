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
  Expr ic = a.groups == 1 ? Expr(r.z) : (ko / Kg) * Cg + r.z;
  Func acc("acc");
  acc(ox, oy, ko, n) = bias ? (*bias)(ko) : Expr(0.0f);
  acc(ox, oy, ko, n) += w(r.x, r.y, r.z, ko) * xp(ix, iy, ic, n);
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
  // than a boundary test inside the reduction.
  if (padded) xp.compute_at(out, row).vectorize(xp.args()[0], V, TailStrategy::GuardWithIf);
  if (gather)
    xp.compute_root().parallel(xp.args()[2]).vectorize(xp.args()[0], V, TailStrategy::GuardWithIf);
  b.output = out;
  return b;
}

// x [F, N], weights transposed [units, F]: vectorised along the units, each
// task a tile of tile_x vectors × tile_k batch rows with the whole reduction
// inside.
Built linear(const KernelSpec& k, const Schedule& s) {
  Built b;
  const Geometry& gx = k.args[0];
  const ProductArgs args = product_args(k, b);
  const ImageParam &x = args.x, &w = args.w;
  const std::optional<ImageParam>&bias = args.bias, &res = args.res;

  Var u("u"), n("n");
  RDom r(0, gx.extent[0], "r");
  Func acc("acc"), out("out");
  acc(u, n) = bias ? (*bias)(u) : Expr(0.0f);
  acc(u, n) += w(u, r) * x(r, n);
  Expr v = acc(u, n);
  if (res) v = v + (*res)(u, n);
  out(u, n) = activate(k.epilogue.act, v);
  fix_output(out, k.args.back());

  // A register tile is tile_x vectors of units × tile_k rows of the batch, so
  // each weight vector is loaded once per tile_k rows: at batch 8 the weights
  // (AlexNet's and VGG's 100-400 MB) are streamed once, not eight times.
  const int V = s.vector, TX = s.tile_x;
  const int TN = std::clamp(s.tile_k, 1, k.args.back().extent[1]);
  Var uo("uo"), ui("ui"), uv("uv"), ul("ul"), no("no"), ni("ni");
  out.split(u, uo, ui, V * TX).split(n, no, ni, TN).reorder(ui, ni, uo, no);
  out.split(ui, uv, ul, V).vectorize(ul).unroll(uv).unroll(ni);
  if (s.parallel) out.parallel(uo);
  acc.compute_at(out, uo);
  acc.split(u, uv, ul, V).vectorize(ul).unroll(uv).unroll(n);
  acc.update().split(u, uv, ul, V).reorder(ul, uv, n, r).vectorize(ul).unroll(uv).unroll(n);
  b.output = out;
  return b;
}

}  // namespace cnnc::halide::tmpl
