// Training kernels: the backward ops of convolution, pooling and batch norm,
// batch-norm training statistics, the losses and the optimizer steps. Each
// computes one result (lower_training.cpp calls one kernel per result), with
// the formulas of the reference backend (backends/reference); sums over the
// batch accumulate in double, as the reference does, so a compiled training
// step stays within float rounding of it. Every output element is computed
// exactly once (guarded tails): the running statistics and the optimizer
// steps work in place.
#include <algorithm>
#include <limits>

#include "backends/halide/templates.h"
#include "support/internal_error.h"

namespace cnnc::halide::tmpl {

using namespace Halide;

namespace {

Expr f64(Expr e) { return cast<double>(e); }
Expr f32(Expr e) { return cast<float>(e); }
// A float64 constant (Halide converts no double implicitly).
Expr c64(double v) { return Expr(v); }

// A map over an [inner, C, outer] view: vectorised along the inner dim
// (guarded), channels × outer spread over the threads.
void schedule_map(Func& out, const Schedule& s, int width) {
  std::vector<Var> a = out.args();
  Var rows("rows");
  out.fuse(a[1], a[2], rows);
  if (s.parallel) out.parallel(rows);
  if (s.vector > 1 && width >= s.vector) out.vectorize(a[0], s.vector, TailStrategy::GuardWithIf);
}

// A per-channel sum f(c) += … computed once for all channels, the channels
// spread over the threads (each channel's sum stays serial, in one order).
void schedule_channel_sums(std::initializer_list<Func> sums) {
  for (Func f : sums) {
    f.compute_root();
    f.update().parallel(f.args()[0]);
  }
}

// The batch mean and biased variance of each channel of x [inner, C, outer].
struct Moments {
  Func mean, var;
};
Moments moments(const ImageParam& x, const Geometry& g) {
  Var c("c");
  RDom r(0, g.extent[0], 0, g.extent[2], "r");
  const double M = static_cast<double>(g.extent[0]) * g.extent[2];
  Func sum("sum"), mean("mean"), sq("sq"), var("var");
  sum(c) = cast<double>(0);
  sum(c) += f64(x(r.x, c, r.y));
  mean(c) = sum(c) / c64(M);
  sq(c) = cast<double>(0);
  Expr d = f64(x(r.x, c, r.y)) - mean(c);
  sq(c) += d * d;
  var(c) = sq(c) / c64(M);
  schedule_channel_sums({sum, sq});
  mean.compute_root();
  var.compute_root();
  return {mean, var};
}

// A weight gradient's register tile acc(kk, …): vectors of V output
// channels along kk and the tile's other dims, all unrolled inside the sum.
void schedule_weight_tile(Func& acc, const Var& kk, const std::vector<Var>& tile,
                          const std::vector<RVar>& sum, int V) {
  Var kvo("kvo"), kvi("kvi");
  acc.split(kk, kvo, kvi, V).vectorize(kvi).unroll(kvo);
  for (const Var& t : tile) acc.unroll(t);
  Stage u = acc.update();
  std::vector<VarOrRVar> order{kvi, kvo};
  order.insert(order.end(), tile.begin(), tile.end());
  order.insert(order.end(), sum.begin(), sum.end());
  u.split(kk, kvo, kvi, V).reorder(order).vectorize(kvi).unroll(kvo);
  for (const Var& t : tile) u.unroll(t);
}

}  // namespace

// dx(x, y, c, n) = Σ over kernel taps (s, r) and the output channels k of c's
// group of w(s, r, c mod Cg, k) · dy(ox, oy, k, n), where the tap maps the
// output pixel (ox, oy) onto (x, y): ox·stride − pad + s·dilation = x.
// That is a forward convolution, with the flipped kernel, of dy zero-padded by
// the kernel's extent and, for a strided convolution, with stride − 1 zeros
// inserted between its pixels (stride² times the work of the taps that land,
// but every tap a dense vector FMA): computed like templates_conv.cpp
// (register tiles of tile_k channels × tile_x vectors, the padded rows built
// once per output row; maps narrower than two vectors fuse their pixels,
// pixel_sum).
Built conv_grad_input(const KernelSpec& k, const Schedule& s) {
  Built b;
  const ir::Conv2dAttrs& a = k.conv;
  const Geometry &gdy = k.args[0], &gw = k.args[1], &gx = k.args.back();
  ImageParam dy = fixed_input(gdy, "dy"), w = fixed_input(gw, "w");
  b.args = {dy, w};
  const int Wo = gdy.extent[0], Ho = gdy.extent[1];
  const int S = gw.extent[0], R = gw.extent[1], Cg = gw.extent[2], K = gw.extent[3];
  const int Kg = K / static_cast<int>(a.groups);
  const int sw = static_cast<int>(a.stride.w), sh = static_cast<int>(a.stride.h);
  const int dw = static_cast<int>(a.dilation.w), dh = static_cast<int>(a.dilation.h);
  Func dyz = BoundaryConditions::constant_exterior(dy, 0.0f, {{0, Wo}, {0, Ho}});
  Var x("x"), y("y"), c("c"), n("n");
  RDom r(0, S, 0, R, 0, Kg, "r");
  Func acc("acc"), out("out");
  acc(x, y, c, n) = 0.0f;
  const int pl = (S - 1) * dw - static_cast<int>(a.pad.left);
  const int pt = (R - 1) * dh - static_cast<int>(a.pad.top);
  Func dyp("dyp"), wf("wf");
  Var u("u"), v("v"), kk("kk");
  Func dyu("dyu");  // dy with stride − 1 zeros between its pixels
  if (sw == 1 && sh == 1)
    dyu(u, v, kk, n) = dyz(u, v, kk, n);
  else
    dyu(u, v, kk, n) = select(u % sw == 0 && v % sh == 0, dyz(u / sw, v / sh, kk, n), 0.0f);
  dyp(u, v, kk, n) = dyu(u - pl, v - pt, kk, n);
  wf(u, v, kk, c) = w(S - 1 - u, R - 1 - v, c % Cg, (c / Cg) * Kg + kk);
  wf.compute_root();
  if (s.fuse_pixels) {
    PixelSum p;
    p.src = dyp;
    p.wt = wf;
    p.init(c) = 0.0f;
    p.S = S, p.R = R, p.in_group = Kg, p.out_group = Cg, p.grouped = a.groups != 1;
    p.channels = K;
    p.dil_x = dw, p.dil_y = dh;
    PixelStages st = pixel_sum(p, gx);
    out(x, y, c, n) = st.sum(x, y, c, n);
    fix_output(out, gx);
    schedule_pixel_sum(st, out, s);
    b.output = out;
    return b;
  }
  acc(x, y, c, n) += wf(r.x, r.y, r.z, c) * dyp(x + r.x * dw, y + r.y * dh, (c / Cg) * Kg + r.z, n);
  out(x, y, c, n) = acc(x, y, c, n);
  fix_output(out, gx);
  const int V = s.vector, TX = s.tile_x, TK = s.tile_k;
  Var xo("xo"), xi("xi"), ct("ct"), ci("ci"), row("row"), xv("xv"), xl("xl");
  // Tails shift inwards (recomputing a few outputs): dx never aliases dy.
  out.split(x, xo, xi, V * TX).split(c, ct, ci, TK);
  out.reorder(xi, ci, xo, ct, y, n).fuse(y, n, row);
  out.split(xi, xv, xl, V).vectorize(xl).unroll(xv).unroll(ci);
  if (s.parallel) out.parallel(row);
  schedule_tile_accumulator(acc, out, xo, r, V);
  dyp.compute_at(out, row).vectorize(u, V, TailStrategy::GuardWithIf);
  b.output = out;
  return b;
}

// dw(s, r, cg, k) = Σ over n and the output pixels p of dy(p, k) · the input
// pixel tap (s, r) of p reads, in c = group(k)·Cg + cg. Without groups that
// is, for each tap, a matrix product over the pixels: dy is transposed so
// that the output channels are the vector lanes, each register tile holding
// tile_k input channels; the input is zero-padded once. Grouped convolutions
// take the plain sum, vectorised over the pixels of a row.
Built conv_grad_weight(const KernelSpec& k, const Schedule& s) {
  Built b;
  const ir::Conv2dAttrs& a = k.conv;
  const Geometry &gx = k.args[0], &gdy = k.args[1], &gw = k.args.back();
  ImageParam x = fixed_input(gx, "x"), dy = fixed_input(gdy, "dy");
  b.args = {x, dy};
  const int W = gx.extent[0], H = gx.extent[1];
  const int Wo = gdy.extent[0], Ho = gdy.extent[1], N = gdy.extent[3];
  const int Cg = gw.extent[2], K = gw.extent[3];
  const int Kg = K / static_cast<int>(a.groups);
  const int sw = static_cast<int>(a.stride.w), sh = static_cast<int>(a.stride.h);
  const int dw = static_cast<int>(a.dilation.w), dh = static_cast<int>(a.dilation.h);
  const int pl = static_cast<int>(a.pad.left), pt = static_cast<int>(a.pad.top);
  Func xz = BoundaryConditions::constant_exterior(x, 0.0f, {{0, W}, {0, H}});
  Var sx("s"), ry("r"), cg("cg"), kk("k");
  RDom r(0, Wo, 0, Ho, 0, N, "r");
  Func acc("acc"), out("out");
  if (a.groups == 1 && s.fuse_pixels) {
    // Maps narrower than two vectors: one flat sum over the pixels of every
    // image (rows of 2 or 4 pixels would cost more in loop overhead than in
    // multiply-adds). Each task, one kernel row r × tile_k input channels,
    // gathers its S·tile_k input taps of every pixel once (contiguous per
    // pixel), then sums register tiles of tile_x vectors of output channels ×
    // those S·tile_k taps over the pixels: per pixel, tile_x vector loads of
    // the transposed dy and S·tile_k broadcasts.
    const int P = Wo * Ho * N;
    Var q("q");
    Expr ox = q % Wo, oy = (q / Wo) % Ho, on = q / (Wo * Ho);
    Func dyq("dyq"), col("col");
    // Clamped channels: a tile's lanes past K or Cg compute values nobody stores.
    dyq(kk, q) = dy(ox, oy, min(kk, K - 1), on);
    col(sx, cg, q, ry) = xz(ox * sw + sx * dw - pl, oy * sh + ry * dh - pt, min(cg, Cg - 1), on);
    RDom rq(0, P, "rq");
    acc(kk, sx, cg, ry) = 0.0f;
    acc(kk, sx, cg, ry) += dyq(kk, rq) * col(sx, cg, rq, ry);
    out(sx, ry, cg, kk) = acc(kk, sx, cg, ry);
    fix_output(out, gw);
    const int S = gw.extent[0], V = s.vector, TK = V * s.tile_x, TC = std::min(s.tile_k, Cg);
    Var ko("ko"), kv("kv"), co("co"), ci("ci"), task("task"), qo("qo");
    out.split(kk, ko, kv, TK, TailStrategy::GuardWithIf)
        .split(cg, co, ci, TC, TailStrategy::GuardWithIf)
        .reorder(kv, sx, ci, ko, co, ry)
        .fuse(co, ry, task);
    if (s.parallel) out.parallel(task);
    acc.compute_at(out, ko).bound_extent(kk, TK).bound_extent(cg, TC).bound_extent(sx, S);
    schedule_weight_tile(acc, kk, {sx, cg}, {rq.x}, V);
    col.compute_at(out, task).bound_extent(cg, TC).bound_extent(sx, S);
    dyq.compute_root().split(q, qo, q, 64, TailStrategy::GuardWithIf).parallel(qo);
    dyq.vectorize(kk, V, TailStrategy::GuardWithIf);
    b.output = out;
    return b;
  }
  if (a.groups == 1) {
    Func xp("xp"), dyt("dyt");
    Var u("u"), v("v"), c("c"), m("m");
    // Clamped channels: a tile's lanes past K or Cg compute values nobody stores.
    xp(u, v, c, m) = xz(u - pl, v - pt, min(c, Cg - 1), m);
    dyt(kk, u, v, m) = dy(u, v, min(kk, K - 1), m);
    acc(kk, cg, sx, ry) = 0.0f;
    acc(kk, cg, sx, ry) +=
        dyt(kk, r.x, r.y, r.z) * xp(r.x * sw + sx * dw, r.y * sh + ry * dh, cg, r.z);
    out(sx, ry, cg, kk) = acc(kk, cg, sx, ry);
    fix_output(out, gw);
    // Each task: taps (s..s+TS, r) × a tile of tile_x vectors of output
    // channels × tile_k input channels, its accumulators in registers through
    // the whole sum (each step loads tile_x vectors and TS·tile_k scalars).
    // Inputs with fewer channels than tile_k (a first layer's 3) fill the
    // tile with neighbouring taps of the kernel row instead: TS of them.
    const int S = gw.extent[0], V = s.vector, TC = std::min(s.tile_k, Cg), TK = V * s.tile_x;
    const int TS = std::max(1, std::min(S, (s.tile_k + 1) / TC));
    Var ko("ko"), kv("kv"), co("co"), ci("ci"), so("so"), si("si"), t1("t1"), t2("t2"),
        task("task");
    out.split(kk, ko, kv, TK, TailStrategy::GuardWithIf)
        .split(cg, co, ci, TC, TailStrategy::GuardWithIf)
        .split(sx, so, si, TS, TailStrategy::GuardWithIf)
        .reorder(kv, ci, si, so, ry, ko, co)
        .fuse(so, ry, t1)
        .fuse(ko, co, t2)
        .fuse(t1, t2, task);
    if (s.parallel) out.parallel(task);
    acc.compute_at(out, task).bound_extent(kk, TK).bound_extent(cg, TC).bound_extent(sx, TS);
    schedule_weight_tile(acc, kk, {cg, sx}, {r.x, r.y, r.z}, V);
    xp.compute_root().parallel(m).vectorize(u, V, TailStrategy::GuardWithIf);
    dyt.compute_root().parallel(m).vectorize(kk, V, TailStrategy::GuardWithIf);
    b.output = out;
    return b;
  }
  Expr ix = r.x * sw - pl + sx * dw;
  Expr iy = r.y * sh - pt + ry * dh;
  Expr c = (kk / Kg) * Cg + cg;
  acc(sx, ry, cg, kk) = 0.0f;
  acc(sx, ry, cg, kk) += dy(r.x, r.y, kk, r.z) * xz(ix, iy, c, r.z);
  out(sx, ry, cg, kk) = acc(sx, ry, cg, kk);
  fix_output(out, gw);

  Var task("task");
  out.fuse(cg, kk, task);
  if (s.parallel) out.parallel(task);
  acc.compute_at(out, task);
  const int V = s.vector;
  if (V > 1 && Wo >= V) {
    // Lane-wise partial sums along the output width, then across the lanes.
    RVar rxo("rxo"), rxi("rxi");
    Var u("u");
    acc.update().split(r.x, rxo, rxi, V, TailStrategy::GuardWithIf);
    Func partial = acc.update().rfactor(rxi, u);
    partial.compute_at(out, task).vectorize(u);
    partial.update().reorder(u, rxo, r.y, r.z).vectorize(u);
  }
  b.output = out;
  return b;
}

// out(c) = Σ dy(i, c, o) over the [inner, C, outer] view.
Built channel_sum(const KernelSpec& k, const Schedule& s) {
  Built b;
  const Geometry& g = k.args[0];
  ImageParam dy = fixed_input(g, "dy");
  b.args = {dy};
  Var c("c");
  RDom r(0, g.extent[0], 0, g.extent[2], "r");
  Func sum("sum"), out("out");
  sum(c) = cast<double>(0);
  sum(c) += f64(dy(r.x, c, r.y));
  out(c) = f32(sum(c));
  fix_output(out, k.args.back());
  if (s.parallel) out.parallel(c);
  b.output = out;
  return b;
}

// Max pooling's gradient, gathered: each input pixel sums dy of the outputs
// whose window's first maximum (row-major, as the reference) it is.
Built max_pool_grad(const KernelSpec& k, const Schedule& s) {
  Built b;
  const ir::PoolAttrs& a = k.pool;
  const Geometry &gx = k.args[0], &gdy = k.args[1];
  ImageParam x = fixed_input(gx, "x"), dy = fixed_input(gdy, "dy");
  b.args = {x, dy};
  const int W = gx.extent[0], H = gx.extent[1], Wo = gdy.extent[0], Ho = gdy.extent[1];
  const int KW = static_cast<int>(a.kernel.w), KH = static_cast<int>(a.kernel.h);
  const int sw = static_cast<int>(a.stride.w), sh = static_cast<int>(a.stride.h);
  const int pl = static_cast<int>(a.pad.left), pt = static_cast<int>(a.pad.top);
  const float inf = std::numeric_limits<float>::infinity();

  Var ox("ox"), oy("oy"), c("c"), n("n");
  RDom w(0, KW, 0, KH, "w");
  Expr ix = ox * sw - pl + w.x, iy = oy * sh - pt + w.y;
  Expr inside = ix >= 0 && ix < W && iy >= 0 && iy < H;
  Expr v = select(inside, x(clamp(ix, 0, W - 1), clamp(iy, 0, H - 1), c, n), -inf);
  Func arg("arg");  // (flat index of the first maximum or -1, its value)
  arg(ox, oy, c, n) = Tuple(-1, -inf);
  Expr better = inside && (arg(ox, oy, c, n)[0] < 0 || v > arg(ox, oy, c, n)[1]);
  arg(ox, oy, c, n) = Tuple(select(better, iy * W + ix, arg(ox, oy, c, n)[0]),
                            select(better, v, arg(ox, oy, c, n)[1]));

  Var px("x"), py("y");
  // The outputs whose window may hold (px, py): floor((p + pad) / stride) − t,
  // t < ⌈kernel / stride⌉ (a handful: the sum is written out, so it vectorises).
  const int TW = (KW + sw - 1) / sw, TH = (KH + sh - 1) / sh;
  Expr total = 0.0f;
  for (int ty = 0; ty < TH; ++ty)
    for (int tx = 0; tx < TW; ++tx) {
      Expr qx = (px + pl) / sw - tx, qy = (py + pt) / sh - ty;
      Expr valid = qx >= 0 && qx < Wo && qy >= 0 && qy < Ho;
      Expr cqx = clamp(qx, 0, Wo - 1), cqy = clamp(qy, 0, Ho - 1);
      Expr hit = valid && arg(cqx, cqy, c, n)[0] == py * W + px;
      total = total + select(hit, dy(cqx, cqy, c, n), 0.0f);
    }
  Func out("out");
  out(px, py, c, n) = total;
  fix_output(out, k.args.back());

  Var cn("cn");
  out.fuse(c, n, cn);
  if (s.parallel) out.parallel(cn);
  if (s.vector > 1 && W >= s.vector) out.vectorize(px, s.vector, TailStrategy::GuardWithIf);
  arg.compute_at(out, cn);
  b.output = out;
  return b;
}

// Average pooling's gradient, gathered: dy of every output whose window holds
// the pixel, divided by that window's count (as the forward template).
Built avg_pool_grad(const KernelSpec& k, const Schedule& s) {
  Built b;
  const ir::PoolAttrs& a = k.pool;
  const Geometry &gdy = k.args[0], &gx = k.args.back();
  ImageParam dy = fixed_input(gdy, "dy");
  b.args = {dy};
  const int W = gx.extent[0], H = gx.extent[1], Wo = gdy.extent[0], Ho = gdy.extent[1];
  const int KW = static_cast<int>(a.kernel.w), KH = static_cast<int>(a.kernel.h);
  const int sw = static_cast<int>(a.stride.w), sh = static_cast<int>(a.stride.h);
  const int pl = static_cast<int>(a.pad.left), pt = static_cast<int>(a.pad.top);
  Var px("x"), py("y"), c("c"), n("n");
  const int TW = (KW + sw - 1) / sw, TH = (KH + sh - 1) / sh;
  Expr total = 0.0f;
  for (int ty = 0; ty < TH; ++ty)
    for (int tx = 0; tx < TW; ++tx) {
      Expr qx = (px + pl) / sw - tx, qy = (py + pt) / sh - ty;
      Expr ws = qx * sw - pl, hs = qy * sh - pt;
      Expr valid = qx >= 0 && qx < Wo && qy >= 0 && qy < Ho && px < ws + KW && py < hs + KH;
      Expr g = dy(clamp(qx, 0, Wo - 1), clamp(qy, 0, Ho - 1), c, n) /
               cast<float>(max(avg_pool_count(k, ws, hs, W, H), 1));
      total = total + select(valid, g, 0.0f);
    }
  Func out("out");
  out(px, py, c, n) = total;
  fix_output(out, gx);
  Var cn("cn");
  out.fuse(c, n, cn);
  if (s.parallel) out.parallel(cn);
  if (s.vector > 1 && W >= s.vector) out.vectorize(px, s.vector, TailStrategy::GuardWithIf);
  b.output = out;
  return b;
}

// Batch norm in training mode over x [inner, C, outer]:
// y = (x − mean) · gamma / √(var + eps) + beta with the batch's statistics.
Built batch_norm_train(const KernelSpec& k, const Schedule& s) {
  Built b;
  const Geometry& g = k.args[0];
  ImageParam x = fixed_input(g, "x"), gamma = fixed_input(k.args[1], "gamma"),
             beta = fixed_input(k.args[2], "beta");
  b.args = {x, gamma, beta};
  Moments m = moments(x, g);
  Var i("i"), c("c"), o("o");
  Func scale("scale"), shift("shift"), out("out");
  Expr sc = f64(gamma(c)) / sqrt(m.var(c) + c64(k.eps));
  scale(c) = f32(sc);
  shift(c) = f32(f64(beta(c)) - m.mean(c) * sc);
  out(i, c, o) = x(i, c, o) * scale(c) + shift(c);
  fix_output(out, k.args.back());
  scale.compute_root();
  shift.compute_root();
  schedule_map(out, s, g.extent[0]);
  b.output = out;
  return b;
}

// The running statistics, in place: running (c, 0) is the mean, (c, 1) the
// variance (the two parameters seen as one [C, 2] buffer):
// r ← (1 − momentum)·r + momentum·batch value, the variance unbiased.
Built batch_norm_stats(const KernelSpec& k, const Schedule&) {
  Built b;
  const Geometry& g = k.args[0];
  ImageParam x = fixed_input(g, "x"), run = fixed_input(k.args[1], "running");
  b.args = {x, run};
  Moments m = moments(x, g);
  const double M = static_cast<double>(g.extent[0]) * g.extent[2];
  Var c("c"), j("j");
  Expr batch = select(j == 0, m.mean(c), m.var(c) * c64(M / (M - 1)));
  Func out("out");
  out(c, j) = f32(c64(1 - k.momentum) * f64(run(c, j)) + c64(k.momentum) * batch);
  fix_output(out, k.args.back());
  b.output = out;
  return b;
}

// Batch norm's gradient in training mode (the statistics depend on x):
// part 0: dx = gamma/σ · (dy − (Σdy + x̂·Σdy·x̂) / M); part 1: dgamma = Σ dy·x̂.
Built batch_norm_grad(const KernelSpec& k, const Schedule& s) {
  Built b;
  const Geometry& g = k.args[0];
  ImageParam x = fixed_input(g, "x");
  std::optional<ImageParam> gamma;
  b.args = {x};
  if (k.part == 0) b.args.push_back(*(gamma = fixed_input(k.args[1], "gamma")));
  ImageParam dy = fixed_input(k.args[k.part == 0 ? 2 : 1], "dy");
  b.args.push_back(dy);
  Moments m = moments(x, g);
  const double M = static_cast<double>(g.extent[0]) * g.extent[2];
  Var i("i"), c("c"), o("o");
  RDom r(0, g.extent[0], 0, g.extent[2], "r");
  Func inv("inv"), sdy("sdy"), sdyx("sdyx"), out("out");
  inv(c) = c64(1) / sqrt(m.var(c) + c64(k.eps));
  inv.compute_root();
  sdyx(c) = cast<double>(0);
  sdyx(c) += f64(dy(r.x, c, r.y)) * (f64(x(r.x, c, r.y)) - m.mean(c)) * inv(c);
  schedule_channel_sums({sdyx});
  if (k.part == 1) {
    out(c) = f32(sdyx(c));
    fix_output(out, k.args.back());
    b.output = out;
    return b;
  }
  sdy(c) = cast<double>(0);
  sdy(c) += f64(dy(r.x, c, r.y));
  schedule_channel_sums({sdy});
  // dx = a(c)·dy + b(c)·x + d(c): the per-channel constants in double, the map in float.
  Func ca("ca"), cb("cb"), cd("cd");
  Expr gi = f64((*gamma)(c)) * inv(c);
  ca(c) = f32(gi);
  cb(c) = f32(-gi * inv(c) * sdyx(c) / c64(M));
  cd(c) = f32(gi * (m.mean(c) * inv(c) * sdyx(c) - sdy(c)) / c64(M));
  ca.compute_root();
  cb.compute_root();
  cd.compute_root();
  out(i, c, o) = ca(c) * dy(i, c, o) + cb(c) * x(i, c, o) + cd(c);
  fix_output(out, k.args.back());
  schedule_map(out, s, g.extent[0]);
  b.output = out;
  return b;
}

namespace {
// A loss that is not finite (an overflow in the forward pass) fails the
// step here, before any backward op or update runs (cnnc_train_step).
Expr finite_loss(Expr loss) {
  return require(is_finite(loss), loss,
                 "the loss is not finite; the step was not taken (a learning rate or input "
                 "too large?): loss =",
                 loss);
}
}  // namespace

// Cross-entropy of logits [K, N] against class labels [N] (floats holding
// indexes, checked), mean over the batch; or mean-squared error. part 0: the
// loss [1]; part 1: its gradient with respect to the scores.
Built loss(const KernelSpec& k, const Schedule&) {
  Built b;
  const Geometry& g = k.args[0];
  ImageParam p = fixed_input(g, "scores"), t = fixed_input(k.args[1], "labels");
  b.args = {p, t};
  Func out("out");
  if (k.loss_op == ir::OpKind::MseLoss) {
    const double count = static_cast<double>(g.elements());
    Var i("i"), o("o"), z("z");
    if (k.part == 0) {
      RDom r(0, g.extent[0], 0, g.extent[1], "r");
      Func sum("sum");
      sum() = cast<double>(0);
      Expr d = f64(p(r.x, r.y)) - f64(t(r.x, r.y));
      sum() += d * d;
      out(z) = finite_loss(f32(sum() / c64(count)));
    } else {
      out(i, o) = f32(c64(2.0 / count) * (f64(p(i, o)) - f64(t(i, o))));
    }
    fix_output(out, k.args.back());
    b.output = out;
    return b;
  }
  const int K = g.extent[0], N = g.extent[1];
  Var j("j"), n("n"), z("z");
  RDom rk(0, K, "rk");
  Func mx("mx"), se("se"), label("label");
  Expr l = t(n);
  Expr is_index = l >= 0.0f && l < static_cast<float>(K) && l == floor(l);
  label(n) = require(is_index, cast<int>(clamp(l, 0.0f, static_cast<float>(K - 1))),
                     "labels must be class indexes in [0, classes): batch row", n, "has", l, "for",
                     K, "classes");
  mx(n) = maximum(f64(p(rk, n)));
  se(n) = sum(exp(f64(p(rk, n)) - mx(n)));
  label.compute_root();
  mx.compute_root();
  se.compute_root();
  if (k.part == 0) {
    RDom rn(0, N, "rn");
    Func total("total");
    total() = cast<double>(0);
    total() += mx(rn) + log(se(rn)) - f64(p(clamp(label(rn), 0, K - 1), rn));
    out(z) = finite_loss(f32(total() / c64(N)));
  } else {
    Expr prob = exp(f64(p(j, n)) - mx(n)) / se(n);
    out(j, n) = f32((prob - select(j == label(n), c64(1), c64(0))) / c64(N));
  }
  fix_output(out, k.args.back());
  b.output = out;
  return b;
}

// One result of an optimizer step over flat [n] tensors (PyTorch's formulas,
// as backends/reference/optimizer.cpp), each computed in place:
//   SGD part 0: m' = μ·m + g̃;  part 1: p' = p − lr·(nesterov ? g̃ + μ·m' : m')
//   (no momentum: p' = p − lr·g̃), with g̃ = g + wd·p.
//   Adam part 0: m' = β1·m + (1−β1)·g̃;  part 1: v' = β2·v + (1−β2)·g̃²;
//   part 2: p' = p̃ − lr·(m'/(1−β1^t)) / (√(v'/(1−β2^t)) + eps), with g̃ = g + wd·p
//   (Adam) or g̃ = g, p̃ = p·(1 − lr·wd) (AdamW).
// Arguments: SGD 0: g, p, m;  SGD 1: g, lr, p[, m'];  Adam 0, 1: g, p, state;
// Adam 2: lr, step, p, m', v'.
Built update(const KernelSpec& k, const Schedule& s) {
  Built b;
  std::vector<ImageParam> in;
  for (size_t a = 0; a + 1 < k.args.size(); ++a)
    in.push_back(fixed_input(k.args[a], "in" + std::to_string(a)));
  b.args = in;
  Var i("i");
  auto at = [&](size_t a) { return f64(in[a](i)); };
  Expr v;
  if (k.update_op == ir::OpKind::SgdUpdate) {
    const ir::SgdAttrs& a = k.sgd;
    if (k.part == 0) {
      v = c64(a.momentum) * at(2) + (at(0) + c64(a.weight_decay) * at(1));
    } else {
      Expr lr = f64(in[1](0));
      Expr g = at(0) + c64(a.weight_decay) * at(2);
      if (in.size() > 3) g = a.nesterov ? g + c64(a.momentum) * at(3) : at(3);
      v = at(2) - lr * g;
    }
  } else {
    const ir::AdamAttrs& a = k.adam;
    if (k.part < 2) {
      Expr g = a.decoupled ? at(0) : at(0) + c64(a.weight_decay) * at(1);
      v = k.part == 0 ? c64(a.beta1) * at(2) + c64(1 - a.beta1) * g
                      : c64(a.beta2) * at(2) + c64(1 - a.beta2) * g * g;
    } else {
      Expr lr = f64(in[0](0)), t = f64(in[1](0));
      Expr c1 = c64(1) - pow(c64(a.beta1), t), c2 = c64(1) - pow(c64(a.beta2), t);
      Expr p = a.decoupled ? at(2) * (c64(1) - lr * c64(a.weight_decay)) : at(2);
      v = p - lr * (at(3) / c1) / (sqrt(at(4) / c2) + c64(a.eps));
    }
  }
  Func out("out");
  out(i) = f32(v);
  fix_output(out, k.args.back());
  const int n = k.args.back().extent[0];
  Var io("io"), ii("ii");
  if (s.parallel && n >= 4096) {
    out.split(i, io, ii, 1024, TailStrategy::GuardWithIf).parallel(io);
    out.vectorize(ii, s.vector, TailStrategy::GuardWithIf);
  } else if (s.vector > 1 && n >= s.vector) {
    out.vectorize(i, s.vector, TailStrategy::GuardWithIf);
  }
  b.output = out;
  return b;
}

}  // namespace cnnc::halide::tmpl
