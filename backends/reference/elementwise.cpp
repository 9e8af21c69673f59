// Elementwise ops, data movement and softmax.
#include <algorithm>
#include <cmath>

#include "backends/reference/kernels.h"
#include "support/internal_error.h"
#include "support/random.h"

namespace cnnc::reference {

double activate(ir::OpKind op, double alpha, double beta, double x) {
  // SELU's constants, as PyTorch and the paper (Klambauer et al. 2017).
  constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
  constexpr double kSeluScale = 1.0507009873554804934193349852946;
  switch (op) {
    case ir::OpKind::Relu:
      return x > 0 ? x : 0.0;
    case ir::OpKind::LeakyRelu:
      return x > 0 ? x : alpha * x;
    case ir::OpKind::Elu:
      return x > 0 ? x : alpha * std::expm1(x);
    case ir::OpKind::Selu:
      return kSeluScale * (x > 0 ? x : kSeluAlpha * std::expm1(x));
    case ir::OpKind::Gelu:
      return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case ir::OpKind::Sigmoid:
      return 1 / (1 + std::exp(-x));
    case ir::OpKind::Tanh:
      return std::tanh(x);
    case ir::OpKind::Clip:
      return std::min(std::max(x, alpha), beta);
    default:
      CNNC_INTERNAL_ERROR() << "'" << ir::op_name(op) << "' is not an activation";
      return x;
  }
}

void activation(ir::OpKind op, double alpha, double beta, const Tensor& x, Tensor& y) {
  for (int64_t i = 0; i < x.size(); ++i) y[i] = static_cast<float>(activate(op, alpha, beta, x[i]));
}

void apply_epilogue(const ir::Epilogue& e, const Tensor* residual, Tensor& y) {
  for (int64_t i = 0; i < y.size(); ++i) {
    double v = y[i];
    if (e.residual) v += (*residual)[i];
    if (e.act.op) v = activate(*e.act.op, e.act.alpha, e.act.beta, v);
    y[i] = static_cast<float>(v);
  }
}

void dropout(const Tensor& x, const ir::DropoutAttrs& a, bool training, uint64_t seed,
             const std::string& layer, Tensor& y) {
  const bool inverted = a.scaling == ir::DropoutScaling::Inverted;
  if (!training) {
    const double scale = inverted ? 1.0 : 1.0 - a.rate;
    for (int64_t i = 0; i < x.size(); ++i) y[i] = static_cast<float>(x[i] * scale);
    return;
  }
  RandomStream rng(seed, layer);
  const double keep_scale = inverted ? 1.0 / (1.0 - a.rate) : 1.0;
  for (int64_t i = 0; i < x.size(); ++i) {
    const bool keep = rng.uniform() >= a.rate;
    y[i] = keep ? static_cast<float>(x[i] * keep_scale) : 0.0f;
  }
}

void add(const std::vector<const Tensor*>& xs, Tensor& y) {
  for (int64_t i = 0; i < y.size(); ++i) {
    double s = 0;
    for (const Tensor* x : xs) s += (*x)[i];
    y[i] = static_cast<float>(s);
  }
}

namespace {
// Splits a shape around `axis`: outer × axis × inner.
void around(const ir::Shape& s, int64_t axis, int64_t& outer, int64_t& inner) {
  outer = inner = 1;
  for (int i = 0; i < s.rank(); ++i) {
    if (i < axis) outer *= s[i];
    if (i > axis) inner *= s[i];
  }
}
int64_t normalise(int64_t axis, int rank) { return axis < 0 ? axis + rank : axis; }
}  // namespace

void concat(const std::vector<const Tensor*>& xs, int64_t axis, Tensor& y) {
  axis = normalise(axis, y.shape.rank());
  int64_t outer = 0, inner = 0;
  around(y.shape, axis, outer, inner);
  const int64_t total = y.shape[static_cast<int>(axis)];
  int64_t offset = 0;
  for (const Tensor* x : xs) {
    const int64_t len = x->shape[static_cast<int>(axis)];
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < len * inner; ++j)
        y[(o * total + offset) * inner + j] = (*x)[o * len * inner + j];
    offset += len;
  }
}

void softmax(const Tensor& x, int64_t axis, Tensor& y) {
  axis = normalise(axis, x.shape.rank());
  int64_t outer = 0, inner = 0;
  around(x.shape, axis, outer, inner);
  const int64_t len = x.shape[static_cast<int>(axis)];
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t in = 0; in < inner; ++in) {
      auto at = [&](int64_t j) { return (o * len + j) * inner + in; };
      double m = -INFINITY;
      for (int64_t j = 0; j < len; ++j) m = std::max<double>(m, x[at(j)]);
      double sum = 0;
      for (int64_t j = 0; j < len; ++j) sum += std::exp(x[at(j)] - m);
      for (int64_t j = 0; j < len; ++j) y[at(j)] = static_cast<float>(std::exp(x[at(j)] - m) / sum);
    }
}

}  // namespace cnnc::reference
