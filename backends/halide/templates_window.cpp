// Window ops: max / average pooling (PyTorch's window rules, as the reference
// backend), global average pooling and cross-channel LRN. Vectorised along
// the output width; images × channels are the parallel dimension.
#include <limits>

#include "backends/halide/templates.h"

namespace cnnc::halide::tmpl {

using namespace Halide;

namespace {

// `stage` (the window reduction over `r`) is computed per vector of outputs,
// the reduction loops inside the vector loop.
void schedule_rows(Func& out, Func& stage, const RDom& r, const Schedule& s, int width) {
  Var ox = out.args()[0], c = out.args()[2], n = out.args()[3];
  Var sx = stage.args()[0];
  Var xo("xo"), xi("xi"), cn("cn");
  out.fuse(c, n, cn);
  if (s.parallel) out.parallel(cn);
  std::vector<VarOrRVar> order{sx};
  for (int d = 0; d < r.dimensions(); ++d) order.emplace_back(r[d]);
  stage.update().reorder(order);
  if (s.vector > 1 && width >= s.vector) {
    out.split(ox, xo, xi, s.vector).vectorize(xi);
    stage.compute_at(out, xo).vectorize(sx);
    stage.update().vectorize(sx);
  } else {
    stage.compute_at(out, ox);
  }
}

}  // namespace

Expr avg_pool_count(const KernelSpec& k, Expr ws, Expr hs, int W, int H) {
  const ir::PoolAttrs& a = k.pool;
  Expr we = min(ws + static_cast<int>(a.kernel.w), W + static_cast<int>(a.pad.right));
  Expr he = min(hs + static_cast<int>(a.kernel.h), H + static_cast<int>(a.pad.bottom));
  return k.count_include_pad ? (we - ws) * (he - hs)
                             : (min(we, W) - max(ws, 0)) * (min(he, H) - max(hs, 0));
}

Built pool(const KernelSpec& k, const Schedule& s) {
  Built b;
  const ir::PoolAttrs& a = k.pool;
  const Geometry& gx = k.args[0];
  ImageParam x = fixed_input(gx, "x");
  b.args = {x};
  // Blocked (k.in_block = B): in and out are [B·W, H, C/B, N], a pixel's B
  // channels adjacent; the window slides over whole blocks.
  const int B = std::max(1, k.in_block);
  const int W = gx.extent[0] / B, H = gx.extent[1];
  const int KW = static_cast<int>(a.kernel.w), KH = static_cast<int>(a.kernel.h);
  Var ox("ox"), oy("oy"), c("c"), n("n"), ki("ki"), xk("xk");
  RDom r(0, KW, 0, KH, "r");
  auto window_x = [&](Expr x_) {
    return x_ * static_cast<int>(a.stride.w) - static_cast<int>(a.pad.left);
  };
  Expr ws = window_x(ox);
  Expr hs = oy * static_cast<int>(a.stride.h) - static_cast<int>(a.pad.top);
  const bool max_pool = k.family == Family::MaxPool;
  Func xp = BoundaryConditions::constant_exterior(
      x, max_pool ? -std::numeric_limits<float>::infinity() : 0.0f, {{0, W * B}, {0, H}});
  // red(ki, x, y, c, n) when blocked, red(x, y, c, n) in NCHW.
  auto at = [&](Expr k_, Expr x_) {
    std::vector<Expr> e{x_, oy, c, n};
    if (k.in_block) e.insert(e.begin(), k_);
    return e;
  };
  Func red("red"), out("out");
  red(at(ki, ox)) =
      max_pool ? -std::numeric_limits<float>::infinity() : 0.0f;  // padding never wins
  Expr v = xp(k.in_block ? ki + B * (ws + r.x) : ws + r.x, hs + r.y, c, n);
  red(at(ki, ox)) = max_pool ? nan_max(v, red(at(ki, ox))) : red(at(ki, ox)) + v;
  // out(x, ...) in NCHW; out(ki + B·x, ...) blocked.
  Expr px = k.in_block ? xk / B : Expr(xk);
  Expr pooled = red(at(xk % B, px));
  if (!max_pool) pooled = pooled / cast<float>(avg_pool_count(k, window_x(px), hs, W, H));
  out(xk, oy, c, n) = pooled;
  fix_output(out, k.args.back());
  if (k.in_block) {
    Var xo("xo"), xi("xi"), cn("cn");
    out.split(xk, xo, xi, B).vectorize(xi).fuse(c, n, cn);
    if (s.parallel) out.parallel(cn);
    red.compute_at(out, xo).vectorize(ki);
    red.update().reorder(ki, r.x, r.y).vectorize(ki);
  } else {
    schedule_rows(out, red, r, s, k.args.back().extent[0]);
  }
  b.output = out;
  return b;
}

Built global_avg_pool(const KernelSpec& k, const Schedule& s) {
  Built b;
  const Geometry& gx = k.args[0];
  ImageParam x = fixed_input(gx, "x");
  b.args = {x};
  Var ox("ox"), oy("oy"), c("c"), n("n");
  RDom r(0, gx.extent[0], 0, gx.extent[1], "r");
  Func sum("sum"), out("out");
  sum(c, n) = 0.0f;
  sum(c, n) += x(r.x, r.y, c, n);
  out(ox, oy, c, n) = sum(c, n) / static_cast<float>(gx.extent[0] * gx.extent[1]);
  fix_output(out, k.args.back());
  Var cn("cn");
  out.fuse(c, n, cn);
  if (s.parallel) out.parallel(cn);
  sum.compute_at(out, cn);
  b.output = out;
  return b;
}

// b_c = a_c / (k + alpha/size · Σ a_c'^2)^beta over the channels c−size/2 ..
// c+size/2 (zero beyond the edges), as the reference backend.
Built lrn(const KernelSpec& k, const Schedule& s) {
  Built b;
  const ir::LrnAttrs& a = k.lrn;
  const Geometry& gx = k.args[0];
  ImageParam x = fixed_input(gx, "x");
  b.args = {x};
  const int half = static_cast<int>(a.size / 2);
  Func xz =
      BoundaryConditions::constant_exterior(x, 0.0f, {Range(), Range(), Range(0, gx.extent[2])});
  Var ox("ox"), oy("oy"), c("c"), n("n");
  RDom r(-half, 2 * half + 1, "r");
  Func sq("sq"), out("out");
  sq(ox, oy, c, n) = 0.0f;
  sq(ox, oy, c, n) += xz(ox, oy, c + r, n) * xz(ox, oy, c + r, n);
  Expr div = pow(static_cast<float>(a.k) +
                     static_cast<float>(a.alpha / static_cast<double>(a.size)) * sq(ox, oy, c, n),
                 static_cast<float>(a.beta));
  out(ox, oy, c, n) = x(ox, oy, c, n) / div;
  fix_output(out, k.args.back());
  schedule_rows(out, sq, r, s, k.args.back().extent[0]);
  b.output = out;
  return b;
}

}  // namespace cnnc::halide::tmpl
