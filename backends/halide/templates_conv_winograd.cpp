// 3×3 convolution by Winograd F(4×4, 3×3) (winograd.h), input and output in
// blocked channels (NCHW[x]c). The weights come transformed, U = G g Gᵀ,
// packed as the blocked convolution's [B, C, 36, K/B] (its 9 taps become 36
// transform points).
//
// A parallel task is parallel_split rows of output tiles of one image and
// `chunk` blocks of output channels (Schedule::chunk; 0: all). It first
// transforms the input tiles of its rows (V, all input channels; with
// share_input every tile is transformed once before the tasks instead: the
// separable Bᵀ d B, rows then columns, unrolled so the constant matrices
// become adds and a few multiplies), then computes the 36 channel sums
// M(p) = Σ_c U(p) V(p) with the blocked convolution's register tile (tile_x
// tiles × tile_k channel blocks, the input channel broadcast, the weights one
// vector per block), point by point so a point's weights stay in L1 while
// the task's tiles pass, and finally writes each 4×4 output tile as Aᵀ M A
// with the bias, residual and activation. Every sum runs in a fixed order:
// results do not depend on the number of threads.
#include <algorithm>

#include "backends/halide/templates.h"
#include "backends/halide/winograd.h"
#include "support/internal_error.h"

namespace cnnc::halide::tmpl {

using namespace Halide;

namespace {

// c·v, with the ±1 and 0 of the transform matrices as an add or nothing.
Expr scaled(double c, Expr v) {
  if (c == 1) return v;
  if (c == -1) return -v;
  return static_cast<float>(c) * v;
}

// Σ_i row[i]·term(i) over the non-zero coefficients.
template <typename Term>
Expr dot(const double* row, int n, Term term) {
  Expr e;
  for (int i = 0; i < n; ++i) {
    if (row[i] == 0) continue;
    Expr t = scaled(row[i], term(i));
    e = e.defined() ? e + t : t;
  }
  return e;
}

}  // namespace

Built conv_winograd(const KernelSpec& k, const Schedule& s) {
  Built b;
  const ir::Conv2dAttrs& a = k.conv;
  const Geometry &gx = k.args[0], &gw = k.args[1], &gy = k.args.back();
  const ProductArgs args = product_args(k, b);
  const ImageParam &x = args.x, &w = args.w;
  const std::optional<ImageParam>&bias = args.bias, &res = args.res;
  CNNC_INTERNAL_ASSERT(k.in_block)
      << "conv_winograd: the input must be blocked (" << k.key() << ")";
  const int Bi = k.in_block, W = gx.extent[0] / Bi, H = gx.extent[1];
  const int CB = gx.extent[2];
  const int B = gw.extent[0];
  const int Wo = k.out_blocked ? gy.extent[0] / B : gy.extent[0], Ho = gy.extent[1];
  const int Tx = static_cast<int>(winograd_tiles(Wo)), Ty = static_cast<int>(winograd_tiles(Ho));
  const int pl = static_cast<int>(a.pad.left), pt = static_cast<int>(a.pad.top);

  Var ci("ci"), t("t"), cb("cb"), p("p"), n("n"), nu("nu"), j("j"), ki("ki"), kb("kb");
  // Zero outside the input: the padding, and the last tiles' overhang.
  Func xe = BoundaryConditions::constant_exterior(x, 0.0f, {{0, W * Bi}, {0, H}});
  Expr tx = t % Tx, ty = t / Tx;
  auto in = [&](Expr X, Expr Y) { return xe(ci + Bi * X, Y, cb, n); };

  // The input transform, along the tile's rows then its columns:
  // rowt(·, nu, j) = Σ_i Bᵀ[nu][i] d(i, j);  V(·, 6ξ+nu) = Σ_j Bᵀ[ξ][j] rowt(·, nu, j).
  Func rowt("rowt");
  {
    std::vector<Expr> by_nu;
    for (int u = 0; u < 6; ++u)
      by_nu.push_back(dot(kWinogradBT[u], 6, [&](int i) {
        return in(tx * kWinogradTile + i - pl, ty * kWinogradTile + j - pt);
      }));
    rowt(ci, t, cb, nu, j, n) = mux(nu, by_nu);
  }
  Func V("V");
  {
    std::vector<Expr> by_p;
    for (int xi = 0; xi < 6; ++xi)
      for (int u = 0; u < 6; ++u)
        by_p.push_back(dot(kWinogradBT[xi], 6, [&](int jj) { return rowt(ci, t, cb, u, jj, n); }));
    V(ci, t, cb, p, n) = mux(p, by_p);
  }

  // M(p) = Σ_c U(p) V(p): Bi input channels of a block, then the blocks.
  RDom r(0, Bi, 0, CB, "r");
  Func part("part");
  part(ki, t, kb, p, n) = 0.0f;
  part(ki, t, kb, p, n) += w(ki, r.y * Bi + r.x, p, kb) * V(r.x, t, r.y, p, n);
  Func M("M");
  M(ki, t, kb, p, n) = part(ki, t, kb, p, n);

  // The output transform, along the tile's columns then its rows:
  // cols(·, ox%4, ξ) = Σ_nu Aᵀ[ox%4][nu] M(6ξ+nu);  Y = Σ_ξ Aᵀ[oy%4][ξ] cols(·, ξ).
  Var xa("xa"), oy("oy"), kc("kc"), rx("rx"), xi("xi"), tile("tile");
  Func cols("cols");
  {
    std::vector<Expr> by_rx;
    for (int q = 0; q < kWinogradTile; ++q)
      by_rx.push_back(
          dot(kWinogradAT[q], 6, [&](int u) { return M(ki, tile, kb, xi * 6 + u, n); }));
    cols(ki, rx, tile, kb, xi, n) = mux(rx, by_rx);
  }
  // The output in blocks, out(kk + B·ox, oy, kb, n), or NCHW, out(ox, oy, kb·B + kk, n)
  // (written a vector of B channels at a time: scattered, but ~1 store per
  // 36·C/B multiply-adds).
  Expr ox = k.out_blocked ? xa / B : Expr(xa);
  Expr kk = k.out_blocked ? xa % B : kc % B;
  Expr kb_ = k.out_blocked ? Expr(kc) : kc / B;
  Expr otile = ox / kWinogradTile + Tx * (oy / kWinogradTile);
  std::vector<Expr> by_ry;
  for (int q = 0; q < kWinogradTile; ++q)
    by_ry.push_back(dot(kWinogradAT[q], 6,
                        [&](int xq) { return cols(kk, ox % kWinogradTile, otile, kb_, xq, n); }));
  Expr v = mux(oy % kWinogradTile, by_ry);
  if (bias) v = (*bias)(kb_ * B + kk) + v;
  if (res)
    v = v + (k.res_blocked ? (*res)(kk + B * ox, oy, kb_, n) : (*res)(ox, oy, kb_ * B + kk, n));
  Func out("out");
  out(xa, oy, kc, n) = activate(k.epilogue.act, v);
  fix_output(out, gy);

  // Tasks of R tile rows of one image × KG channel blocks; in each, tile by
  // tile, every channel block's 4×4 outputs, unrolled so each is one row of
  // Aᵀ M A with constant coefficients.
  const int blocks = gw.extent[3];
  const int R = std::clamp(s.parallel_split, 1, Ty);
  // Channel groups and tiles that divide evenly: the register tile's
  // channels must not run past the weights.
  const int KG = divisor_at_most(blocks, s.chunk > 0 ? s.chunk : blocks);
  const int KT = divisor_at_most(KG, s.tile_k);
  const int XT = std::clamp(s.tile_x, 1, R * Tx);
  Var yq("yq"), yt("yt"), yo("yo"), yr("yr"), xo("xo"), xq("xq"), xr("xr"), xv("xv"), kg("kg"),
      kin("kin"), task("task");
  out.split(oy, yq, yr, kWinogradTile, TailStrategy::GuardWithIf)
      .split(yq, yo, yt, R, TailStrategy::GuardWithIf);
  if (k.out_blocked) {
    out.split(kc, kg, kin, KG, TailStrategy::GuardWithIf)
        .split(xa, xo, xv, B)
        .split(xo, xq, xr, kWinogradTile, TailStrategy::GuardWithIf);
  } else {
    Var kv("kv");
    out.split(kc, kv, xv, B)
        .split(kv, kg, kin, KG, TailStrategy::GuardWithIf)
        .split(xa, xq, xr, kWinogradTile, TailStrategy::GuardWithIf);
  }
  out.reorder(xv, xr, yr, kin, xq, yt, kg, yo, n)
      .vectorize(xv)
      .unroll(xr)
      .unroll(yr)
      .fuse(kg, yo, task)
      .fuse(task, n, task);
  if (s.parallel) out.parallel(task);
  cols.compute_at(out, kin).vectorize(ki).unroll(rx).unroll(xi);

  // The channel sums for the task's tiles, point by point, then channel
  // block groups, then register tiles.
  Var to("to"), ti("ti"), kbo("kbo"), kbi("kbi");
  M.compute_at(out, task)
      .split(t, to, ti, XT, TailStrategy::GuardWithIf)
      .split(kb, kbo, kbi, KT, TailStrategy::GuardWithIf)
      .reorder(ki, ti, kbi, to, kbo, p, n)
      .vectorize(ki)
      .unroll(ti)
      .unroll(kbi);
  // A whole register tile even at the task's last tiles (their extra tiles
  // read the zero exterior), so that its loops unroll.
  part.compute_at(M, to).bound_extent(t, XT).vectorize(ki).unroll(t).unroll(kb);
  part.update().reorder(ki, t, kb, r.x, r.y, p, n).vectorize(ki).unroll(t).unroll(kb);

  // The input tiles, all 36 points of a tile at once: the task's own, or
  // (share_input) every tile once before the tasks, in parallel over blocks.
  if (s.share_input) {
    Var cbn("cbn");
    V.compute_root().reorder(ci, p, t, cb, n).vectorize(ci).unroll(p).fuse(cb, n, cbn);
    if (s.parallel) V.parallel(cbn);
  } else {
    V.compute_at(out, task).reorder(ci, p, t, cb, n).vectorize(ci).unroll(p);
  }
  rowt.compute_at(V, t).reorder(ci, nu, j, t, cb, n).vectorize(ci).unroll(nu).unroll(j);
  b.output = out;
  return b;
}

}  // namespace cnnc::halide::tmpl
