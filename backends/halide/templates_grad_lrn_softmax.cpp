// The backward ops of the two normalisations across channels (an axis):
// local response normalisation and softmax, with the reference backend's
// formulas (backends/reference/norm.cpp, elementwise.cpp).
#include "backends/halide/templates.h"

namespace cnnc::halide::tmpl {

using namespace Halide;

// With d_c = k + α/size · Σ_{c' in win(c)} x_c'² and y_c = x_c · d_c^−β:
//   dx_j = dy_j · d_j^−β − 2αβ/size · x_j · Σ_{c in win(j)} dy_c · x_c · d_c^(−β−1),
// the windows being symmetric (c in win(j) ⇔ j in win(c)). d and the
// per-channel term t are computed once each; dx is a map over the rows.
Built lrn_grad(const KernelSpec& k, const Schedule& s) {
  Built b;
  const ir::LrnAttrs& a = k.lrn;
  const Geometry& gx = k.args[0];
  ImageParam x = fixed_input(gx, "x"), dy = fixed_input(k.args[1], "dy");
  b.args = {x, dy};
  const int C = gx.extent[2], half = static_cast<int>(a.size / 2);
  const float alpha_n = static_cast<float>(a.alpha / static_cast<double>(a.size));
  const float beta = static_cast<float>(a.beta);
  const Region channels{Range(), Range(), Range(0, C)};
  Func xz = BoundaryConditions::constant_exterior(x, 0.0f, channels);
  Var ox("ox"), oy("oy"), c("c"), n("n");
  RDom r(-half, 2 * half + 1, "r");
  Func d("d"), t("t"), out("out");
  d(ox, oy, c, n) =
      static_cast<float>(a.k) + alpha_n * sum(xz(ox, oy, c + r, n) * xz(ox, oy, c + r, n), "sq");
  t(ox, oy, c, n) = dy(ox, oy, c, n) * x(ox, oy, c, n) * pow(d(ox, oy, c, n), -beta - 1.0f);
  Func tz = BoundaryConditions::constant_exterior(
      t, 0.0f, {{0, gx.extent[0]}, {0, gx.extent[1]}, {0, C}, {0, gx.extent[3]}});
  out(ox, oy, c, n) = dy(ox, oy, c, n) * pow(d(ox, oy, c, n), -beta) -
                      2.0f * alpha_n * beta * x(ox, oy, c, n) * sum(tz(ox, oy, c + r, n), "tsum");
  fix_output(out, k.args.back());

  Var row("row");
  const int V = s.vector, W = gx.extent[0];
  for (Func* f : {&d, &t, &out}) {
    if (f != &out) f->compute_root();
    f->fuse(c, n, row);
    if (s.parallel) f->parallel(row);
    if (V > 1 && W >= V) f->vectorize(ox, V, TailStrategy::GuardWithIf);
  }
  b.output = out;
  return b;
}

// dx_j = y_j · (dy_j − Σ_i dy_i·y_i) along the axis, over the [inner, axis,
// outer] view; the dot product summed in double, as the reference does.
Built softmax_grad(const KernelSpec& k, const Schedule& s) {
  Built b;
  const Geometry& g = k.args[0];
  ImageParam y = fixed_input(g, "y"), dy = fixed_input(k.args[1], "dy");
  b.args = {y, dy};
  Var i("i"), a("a"), o("o");
  RDom r(0, g.extent[1], "r");
  Func dot("dot"), out("out");
  dot(i, o) = cast<double>(0);
  dot(i, o) += cast<double>(dy(i, r, o)) * cast<double>(y(i, r, o));
  out(i, a, o) = y(i, a, o) * (dy(i, a, o) - cast<float>(dot(i, o)));
  fix_output(out, k.args.back());
  dot.compute_root();
  if (s.parallel) {
    dot.parallel(o);
    out.parallel(o);
  }
  b.output = out;
  return b;
}

}  // namespace cnnc::halide::tmpl
