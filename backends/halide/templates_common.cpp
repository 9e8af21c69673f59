// Shared pieces of the templates, the elementwise and softmax templates, and
// the dispatch on the kernel family.
#include <algorithm>
#include <cmath>
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

void pad_storage(Func f, const Var& dim, int lanes) {
  if (lanes > 1) f.align_storage(dim, lanes);
}

int divisor_at_most(int n, int limit) {
  for (int d = std::max(1, std::min(n, limit)); d > 1; --d)
    if (n % d == 0) return d;
  return 1;
}

// Halide compiles float code with fast-math flags (no NaNs, no infinities)
// and its own exp (a polynomial times 2^k, k = the argument's integer part,
// which overflows: exp(1e20) came out 0, so sigmoid(-1e20) was 1, and exp of
// NaN 0). PyTorch's semantics instead, where they matter: the argument
// clamped to where float32's exp is 0 or infinite, and a NaN argument, or a
// NaN input of an activation, passed through by a strict test and choice.
// The NaN test looks at the bits: LLVM folds a floating-point NaN test
// (even a strict one) to false when its operand comes from an instruction
// carrying Halide's no-NaNs flag, such as a convolution's sum (a fused
// epilogue turned selu(NaN) into inf).
Expr nan_bits(Expr v) {
  Expr bits = reinterpret<uint32_t>(v) & Internal::make_const(UInt(32), 0x7fffffffu);
  return bits > Internal::make_const(UInt(32), 0x7f800000u);
}

Expr exp_safe(Expr v) {
  return strict_float(select(nan_bits(v), v, exp(clamp(v, -104.0f, 89.0f))));
}

Expr keep_nan(Expr v, Expr f) { return strict_float(select(nan_bits(v), v, f)); }

Expr nan_max(Expr a, Expr b) { return strict_float(select(nan_bits(a) || a > b, a, b)); }

Expr activate(const ir::Activation& act, Expr v) {
  if (!act.op) return v;
  const float alpha = static_cast<float>(act.alpha), beta = static_cast<float>(act.beta);
  // SELU's constants, as the reference backend (Klambauer et al. 2017).
  const float selu_alpha = 1.6732632423543772848f, selu_scale = 1.0507009873554804934f;
  switch (*act.op) {
    case ir::OpKind::Relu:
      return keep_nan(v, select(v > 0.0f, v, 0.0f));
    case ir::OpKind::LeakyRelu:
      return keep_nan(v, select(v > 0.0f, v, v * alpha));
    case ir::OpKind::Elu:
      return keep_nan(v, select(v > 0.0f, v, alpha * (exp_safe(v) - 1.0f)));
    case ir::OpKind::Selu:
      return keep_nan(v, selu_scale * select(v > 0.0f, v, selu_alpha * (exp_safe(v) - 1.0f)));
    case ir::OpKind::Gelu:
      // erf is ±1 to float precision beyond ±4 (its polynomial overflows at 1e20).
      return keep_nan(v, 0.5f * v * (1.0f + erf(clamp(v * 0.70710678118654752f, -4.0f, 4.0f))));
    case ir::OpKind::Sigmoid:
      return keep_nan(v, 1.0f / (1.0f + exp_safe(-v)));
    case ir::OpKind::Tanh:
      return keep_nan(v, tanh(v));
    case ir::OpKind::Clip:
      return keep_nan(v, select(v < alpha, alpha, select(v > beta, beta, v)));
    default:
      CNNC_INTERNAL_ERROR() << "'" << ir::op_name(*act.op) << "' is not an activation";
      return v;
  }
}

Expr activate_grad(const ir::Activation& act, bool from_output, Expr v) {
  const float alpha = static_cast<float>(act.alpha), beta = static_cast<float>(act.beta);
  const float selu_alpha = 1.6732632423543772848f, selu_scale = 1.0507009873554804934f;
  const Expr one = 1.0f, zero = 0.0f;
  switch (*act.op) {
    case ir::OpKind::Relu:
      return select(v > 0.0f, one, zero);
    case ir::OpKind::LeakyRelu:
      return select(v > 0.0f, one, alpha);
    case ir::OpKind::Elu:
      return select(v > 0.0f, one, from_output ? v + alpha : alpha * exp_safe(v));
    case ir::OpKind::Selu:
      return from_output ? select(v > 0.0f, selu_scale, v + selu_scale * selu_alpha)
                         : selu_scale * select(v > 0.0f, one, selu_alpha * exp_safe(v));
    case ir::OpKind::Gelu:
      return 0.5f * (1.0f + erf(clamp(v * 0.70710678118654752f, -4.0f, 4.0f))) +
             v * exp_safe(-0.5f * v * v) * 0.39894228040143268f;
    case ir::OpKind::Sigmoid: {
      Expr y = from_output ? v : 1.0f / (1.0f + exp_safe(-v));
      return y * (1.0f - y);
    }
    case ir::OpKind::Tanh: {
      Expr y = from_output ? v : tanh(v);
      return 1.0f - y * y;
    }
    case ir::OpKind::Clip:
      return select(v >= alpha && v <= beta, one, zero);
    default:
      CNNC_INTERNAL_ERROR() << "'" << ir::op_name(*act.op) << "' has no gradient kernel";
      return v;
  }
}

// The dropout factor of element `index` (0-based, in the tensor's order):
// the reference backend's stream (support/random.cpp, SplitMix64) keyed by
// (seed, layer), whose value `index` is mix(state + (index + 1)·γ); kept when
// its top 53 bits, as a fraction, are ≥ rate. `seed` holds the 64-bit seed's
// bits in two floats (low word first).
Expr dropout_factor(const KernelSpec& k, const ImageParam& seed, Expr index) {
  auto u64 = [](uint64_t v) { return Internal::make_const(UInt(64), v); };
  const uint64_t golden = 0x9E3779B97F4A7C15ull;
  Expr lo = cast<uint64_t>(reinterpret<uint32_t>(seed(0)));
  Expr hi = cast<uint64_t>(reinterpret<uint32_t>(seed(1)));
  Expr s64 = lo | (hi << 32);
  Expr state = (s64 * u64(golden)) ^ u64(k.stream);
  Expr z = state + (cast<uint64_t>(index) + 1) * u64(golden);
  z = (z ^ (z >> 30)) * u64(0xBF58476D1CE4E5B9ull);
  z = (z ^ (z >> 27)) * u64(0x94D049BB133111EBull);
  z = z ^ (z >> 31);
  // uniform = (z >> 11)·2^-53 ≥ rate  ⇔  (z >> 11) ≥ ⌈rate·2^53⌉ (rate·2^53 is exact).
  const double threshold = std::ceil(k.dropout.rate * 0x1.0p53);
  const bool inverted = k.dropout.scaling == ir::DropoutScaling::Inverted;
  const float keep = inverted ? static_cast<float>(1.0 / (1.0 - k.dropout.rate)) : 1.0f;
  return select((z >> 11) >= u64(static_cast<uint64_t>(threshold)), keep, 0.0f);
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
    case ElementwiseOp::ActivationGrad:
      v = in[1](i, c, o) * activate_grad(k.epilogue.act, k.grad_from_output, v);
      break;
    case ElementwiseOp::DropoutMask: {
      ImageParam seed = fixed_input(k.args[1], "seed");
      b.args.push_back(seed);
      Expr f = dropout_factor(k, seed, (o * k.args[0].extent[1] + c) * k.args[0].extent[0] + i);
      v = select(f == 0.0f, 0.0f, v * f);
      break;
    }
  }
  Func out("out");
  out(i, c, o) = k.ew == ElementwiseOp::ActivationGrad ? v : activate(k.epilogue.act, v);
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
  mx(i, o) = nan_max(mx(i, o), x(i, r, o));  // a NaN makes the line NaN, as PyTorch
  e(i, a, o) = exp_safe(x(i, a, o) - mx(i, o));
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
      return k.winograd ? conv_winograd(k, s) : k.block ? conv_blocked(k, s) : conv(k, s);
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
    case Family::ConvGradInput:
      return conv_grad_input(k, s);
    case Family::ConvGradWeight:
      return conv_grad_weight(k, s);
    case Family::ChannelSum:
      return channel_sum(k, s);
    case Family::MaxPoolGrad:
      return max_pool_grad(k, s);
    case Family::AvgPoolGrad:
      return avg_pool_grad(k, s);
    case Family::BatchNormTrain:
      return batch_norm_train(k, s);
    case Family::BatchNormStats:
      return batch_norm_stats(k, s);
    case Family::BatchNormGrad:
      return batch_norm_grad(k, s);
    case Family::Loss:
      return loss(k, s);
    case Family::Update:
      return update(k, s);
    case Family::LrnGrad:
      return lrn_grad(k, s);
    case Family::SoftmaxGrad:
      return softmax_grad(k, s);
  }
  CNNC_INTERNAL_ERROR() << "no template for family " << static_cast<int>(k.family);
  return {};
}

}  // namespace cnnc::halide::tmpl
