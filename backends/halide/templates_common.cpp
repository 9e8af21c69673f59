// Shared pieces of the templates, the elementwise and softmax templates, and
// the dispatch on the kernel family.
#include <limits>

#include "backends/halide/templates.h"
#include "support/internal_error.h"

namespace cnnc::halide::tmpl {

using namespace Halide;

ImageParam fixed_input(const Geometry& g, const std::string& name) {
  ImageParam p(Float(32), g.rank, name);
  for (int d = 0; d < g.rank; ++d)
    p.dim(d)
        .set_bounds(0, g.extent[static_cast<size_t>(d)])
        .set_stride(g.stride[static_cast<size_t>(d)]);
  return p;
}

void fix_output(Func& f, const Geometry& g) {
  for (int d = 0; d < g.rank; ++d)
    f.output_buffer()
        .dim(d)
        .set_bounds(0, g.extent[static_cast<size_t>(d)])
        .set_stride(g.stride[static_cast<size_t>(d)]);
}

ProductArgs product_args(const KernelSpec& k, Built& b) {
  ProductArgs p{fixed_input(k.args[0], "x"), fixed_input(k.args[1], "w"), {}, {}};
  b.args = {p.x, p.w};
  size_t next = 2;
  if (k.bias) b.args.push_back(*(p.bias = fixed_input(k.args[next++], "b")));
  if (k.epilogue.residual) b.args.push_back(*(p.res = fixed_input(k.args[next++], "res")));
  return p;
}

Expr activate(const ir::Activation& act, Expr v) {
  if (!act.op) return v;
  const float alpha = static_cast<float>(act.alpha), beta = static_cast<float>(act.beta);
  // SELU's constants, as the reference backend (Klambauer et al. 2017).
  const float selu_alpha = 1.6732632423543772848f, selu_scale = 1.0507009873554804934f;
  switch (*act.op) {
    case ir::OpKind::Relu:
      return max(v, 0.0f);
    case ir::OpKind::LeakyRelu:
      return select(v > 0.0f, v, v * alpha);
    case ir::OpKind::Elu:
      return select(v > 0.0f, v, alpha * (exp(v) - 1.0f));
    case ir::OpKind::Selu:
      return selu_scale * select(v > 0.0f, v, selu_alpha * (exp(v) - 1.0f));
    case ir::OpKind::Gelu:
      return 0.5f * v * (1.0f + erf(v * 0.70710678118654752f));
    case ir::OpKind::Sigmoid:
      return 1.0f / (1.0f + exp(-v));
    case ir::OpKind::Tanh:
      return tanh(v);
    case ir::OpKind::Clip:
      return min(max(v, alpha), beta);
    default:
      CNNC_INTERNAL_ERROR() << "'" << ir::op_name(*act.op) << "' is not an activation";
      return v;
  }
}

// Data inputs and output are [inner, C, outer] views; ScaleShift adds two [C]
// parameter vectors before the output.
Built elementwise(const KernelSpec& k, const Schedule& s) {
  Built b;
  Var i("i"), c("c"), o("o");
  std::vector<ImageParam> in;
  for (int a = 0; a < k.inputs; ++a) {
    in.push_back(fixed_input(k.args[static_cast<size_t>(a)], "x" + std::to_string(a)));
    b.args.push_back(in.back());
  }
  Expr v = in[0](i, c, o);
  switch (k.ew) {
    case ElementwiseOp::Copy:
      break;
    case ElementwiseOp::Scale:
      v = v * static_cast<float>(k.scale);
      break;
    case ElementwiseOp::ScaleShift: {
      ImageParam scale = fixed_input(k.args[1], "scale"), shift = fixed_input(k.args[2], "shift");
      b.args.push_back(scale);
      b.args.push_back(shift);
      v = v * scale(c) + shift(c);
      break;
    }
    case ElementwiseOp::Sum:
      for (size_t a = 1; a < in.size(); ++a) v = v + in[a](i, c, o);
      break;
  }
  Func out("out");
  out(i, c, o) = activate(k.epilogue.act, v);
  const Geometry& g = k.args.back();
  fix_output(out, g);

  // Guarded tails, never recomputed ones: an in-place kernel's output
  // overwrites its input, so no element may be computed twice.
  const int64_t inner = g.extent[0], rows = int64_t{g.extent[1]} * g.extent[2];
  Var co("co"), io("io"), ii("ii");
  if (s.parallel && rows >= 8) {
    out.fuse(c, o, co).parallel(co);
    if (inner >= s.vector) out.vectorize(i, s.vector, TailStrategy::GuardWithIf);
  } else if (s.parallel) {
    const int chunk = static_cast<int>((inner / 16 + s.vector - 1) / s.vector * s.vector);
    out.split(i, io, ii, std::max(chunk, s.vector), TailStrategy::GuardWithIf).parallel(io);
    out.vectorize(ii, s.vector, TailStrategy::GuardWithIf);
  } else if (inner >= s.vector && s.vector > 1) {
    out.vectorize(i, s.vector, TailStrategy::GuardWithIf);
  }
  b.output = out;
  return b;
}

// x viewed [inner, axis, outer]: softmax along the middle dim, max-shifted.
Built softmax(const KernelSpec& k, const Schedule& s) {
  Built b;
  const Geometry& g = k.args[0];
  ImageParam x = fixed_input(g, "x");
  b.args.push_back(x);
  Var i("i"), a("a"), o("o");
  RDom r(0, g.extent[1], "r");
  Func mx("mx"), e("e"), sum("sum"), out("out");
  mx(i, o) = -std::numeric_limits<float>::infinity();
  mx(i, o) = max(mx(i, o), x(i, r, o));
  e(i, a, o) = exp(x(i, a, o) - mx(i, o));
  sum(i, o) = 0.0f;
  sum(i, o) += e(i, r, o);
  out(i, a, o) = e(i, a, o) / sum(i, o);
  fix_output(out, k.args.back());
  mx.compute_root();
  e.compute_root();
  sum.compute_root();
  if (s.parallel) out.parallel(o);
  b.output = out;
  return b;
}

Built build(const KernelSpec& k, const Schedule& s) {
  switch (k.family) {
    case Family::Conv:
      return k.block ? conv_blocked(k, s) : conv(k, s);
    case Family::Linear:
      return linear(k, s);
    case Family::MaxPool:
    case Family::AvgPool:
      return pool(k, s);
    case Family::GlobalAvgPool:
      return global_avg_pool(k, s);
    case Family::Lrn:
      return lrn(k, s);
    case Family::Softmax:
      return softmax(k, s);
    case Family::Elementwise:
      return elementwise(k, s);
  }
  CNNC_INTERNAL_ERROR() << "no template for family " << static_cast<int>(k.family);
  return {};
}

}  // namespace cnnc::halide::tmpl
