// Elementwise ops, data movement, softmax and the losses, forward and backward.
#include <algorithm>
#include <cmath>

#include "backends/reference/kernels.h"
#include "support/internal_error.h"
#include "support/random.h"

namespace cnnc::reference {

namespace {
// SELU's constants, as PyTorch and the paper (Klambauer et al. 2017).
constexpr double kSeluAlpha = 1.6732632423543772848170429916717;
constexpr double kSeluScale = 1.0507009873554804934193349852946;
}  // namespace

double activate(ir::OpKind op, double alpha, double beta, double x) {
  switch (op) {
    case ir::OpKind::Relu:
      return x < 0 ? 0.0 : x;  // NaN stays NaN (PyTorch)
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

double activate_grad(ir::OpKind op, double alpha, double beta, double x) {
  switch (op) {
    case ir::OpKind::Relu:
      return x > 0 ? 1.0 : 0.0;
    case ir::OpKind::LeakyRelu:
      return x > 0 ? 1.0 : alpha;
    case ir::OpKind::Elu:
      return x > 0 ? 1.0 : alpha * std::exp(x);
    case ir::OpKind::Selu:
      return kSeluScale * (x > 0 ? 1.0 : kSeluAlpha * std::exp(x));
    case ir::OpKind::Gelu: {
      const double cdf = 0.5 * (1 + std::erf(x / std::sqrt(2.0)));
      const double pdf = std::exp(-0.5 * x * x) / std::sqrt(2 * M_PI);
      return cdf + x * pdf;
    }
    case ir::OpKind::Sigmoid: {
      const double s = 1 / (1 + std::exp(-x));
      return s * (1 - s);
    }
    case ir::OpKind::Tanh: {
      const double t = std::tanh(x);
      return 1 - t * t;
    }
    case ir::OpKind::Clip:
      return x >= alpha && x <= beta ? 1.0 : 0.0;
    default:
      CNNC_INTERNAL_ERROR() << "'" << ir::op_name(op) << "' is not an activation";
      return 0;
  }
}

double activate_grad_from_output(ir::OpKind op, double alpha, double y) {
  switch (op) {
    case ir::OpKind::Relu:
      return y > 0 ? 1.0 : 0.0;
    case ir::OpKind::LeakyRelu:  // alpha > 0
      return y > 0 ? 1.0 : alpha;
    case ir::OpKind::Elu:  // y = alpha (e^x − 1) below 0: alpha e^x = y + alpha
      return y > 0 ? 1.0 : y + alpha;
    case ir::OpKind::Selu:
      return y > 0 ? kSeluScale : y + kSeluScale * kSeluAlpha;
    case ir::OpKind::Sigmoid:
      return y * (1 - y);
    case ir::OpKind::Tanh:
      return 1 - y * y;
    default:
      CNNC_INTERNAL_ERROR() << "'" << ir::op_name(op) << "' has no gradient from its output";
      return 0;
  }
}

void activation_grad(ir::OpKind op, double alpha, double beta, const DTensor& x, const DTensor& y,
                     const DTensor& dy, DTensor& dx) {
  if (ir::activation_grad_reads_output(op, alpha)) {
    for (int64_t i = 0; i < y.size(); ++i)
      dx[i] += dy[i] * activate_grad_from_output(op, alpha, y[i]);
    return;
  }
  for (int64_t i = 0; i < x.size(); ++i) dx[i] += dy[i] * activate_grad(op, alpha, beta, x[i]);
}

void activation(ir::OpKind op, double alpha, double beta, const DTensor& x, DTensor& y) {
  for (int64_t i = 0; i < x.size(); ++i) y[i] = activate(op, alpha, beta, x[i]);
}

void apply_epilogue(const ir::Epilogue& e, const DTensor* residual, DTensor& y) {
  for (int64_t i = 0; i < y.size(); ++i) {
    double v = y[i];
    if (e.residual) v += (*residual)[i];
    if (e.act.op) v = activate(*e.act.op, e.act.alpha, e.act.beta, v);
    y[i] = v;
  }
}

namespace {
// Calls f(i, factor) for every element: the factor dropout multiplies it by
// (the mask, from one stream per (seed, layer), times the scaling).
template <class F>
void dropout_factors(const ir::DropoutAttrs& a, bool training, uint64_t seed,
                     const std::string& layer, int64_t n, F f) {
  const bool inverted = a.scaling == ir::DropoutScaling::Inverted;
  if (!training) {
    const double scale = inverted ? 1.0 : 1.0 - a.rate;
    for (int64_t i = 0; i < n; ++i) f(i, scale);
    return;
  }
  RandomStream rng(seed, layer);
  const double keep_scale = inverted ? 1.0 / (1.0 - a.rate) : 1.0;
  for (int64_t i = 0; i < n; ++i) f(i, rng.uniform() >= a.rate ? keep_scale : 0.0);
}
}  // namespace

void dropout(const DTensor& x, const ir::DropoutAttrs& a, bool training, uint64_t seed,
             const std::string& layer, DTensor& y) {
  dropout_factors(a, training, seed, layer, x.size(),
                  [&](int64_t i, double f) { y[i] = f == 0 ? 0.0 : x[i] * f; });
}

void dropout_grad(const ir::DropoutAttrs& a, bool training, uint64_t seed, const std::string& layer,
                  const DTensor& dy, DTensor& dx) {
  dropout_factors(a, training, seed, layer, dy.size(),
                  [&](int64_t i, double f) { dx[i] += dy[i] * f; });
}

void add(const std::vector<const DTensor*>& xs, DTensor& y) {
  for (int64_t i = 0; i < y.size(); ++i) {
    double s = 0;
    for (const DTensor* x : xs) s += (*x)[i];
    y[i] = s;
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

// Calls f(at, len) for every line of a tensor of shape `s` along `axis`:
// at(j) is the flat index of the line's j-th element.
template <class F>
void for_each_line(const ir::Shape& s, int64_t axis, F f) {
  axis = normalise(axis, s.rank());
  int64_t outer = 0, inner = 0;
  around(s, axis, outer, inner);
  const int64_t len = s[static_cast<int>(axis)];
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t in = 0; in < inner; ++in)
      f([=](int64_t j) { return (o * len + j) * inner + in; }, len);
}
}  // namespace

void concat(const std::vector<const DTensor*>& xs, int64_t axis, DTensor& y) {
  axis = normalise(axis, y.shape.rank());
  int64_t outer = 0, inner = 0;
  around(y.shape, axis, outer, inner);
  const int64_t total = y.shape[static_cast<int>(axis)];
  int64_t offset = 0;
  for (const DTensor* x : xs) {
    const int64_t len = x->shape[static_cast<int>(axis)];
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < len * inner; ++j)
        y[(o * total + offset) * inner + j] = (*x)[o * len * inner + j];
    offset += len;
  }
}

void softmax(const DTensor& x, int64_t axis, DTensor& y) {
  for_each_line(x.shape, axis, [&](auto at, int64_t len) {
    double m = -INFINITY;
    for (int64_t j = 0; j < len; ++j) m = std::max<double>(m, x[at(j)]);
    double sum = 0;
    for (int64_t j = 0; j < len; ++j) sum += std::exp(x[at(j)] - m);
    for (int64_t j = 0; j < len; ++j) y[at(j)] = std::exp(x[at(j)] - m) / sum;
  });
}

void concat_grad(const DTensor& dy, int64_t axis, const std::vector<DTensor*>& dxs) {
  axis = normalise(axis, dy.shape.rank());
  int64_t outer = 0, inner = 0;
  around(dy.shape, axis, outer, inner);
  const int64_t total = dy.shape[static_cast<int>(axis)];
  int64_t offset = 0;
  for (DTensor* dx : dxs) {
    const int64_t len = dx->shape[static_cast<int>(axis)];
    for (int64_t o = 0; o < outer; ++o)
      for (int64_t j = 0; j < len * inner; ++j)
        (*dx)[o * len * inner + j] += dy[(o * total + offset) * inner + j];
    offset += len;
  }
}

void softmax_grad(const DTensor& y, int64_t axis, const DTensor& dy, DTensor& dx) {
  // dx_j = y_j (dy_j − Σ_i dy_i y_i) along the axis.
  for_each_line(y.shape, axis, [&](auto at, int64_t len) {
    double dot = 0;
    for (int64_t j = 0; j < len; ++j) dot += dy[at(j)] * y[at(j)];
    for (int64_t j = 0; j < len; ++j) dx[at(j)] += y[at(j)] * (dy[at(j)] - dot);
  });
}

namespace {
int64_t label_of(const DTensor& labels, int64_t n, int64_t classes) {
  const double l = labels[n];
  CNNC_INTERNAL_ASSERT(l >= 0 && l < static_cast<double>(classes) && l == std::floor(l))
      << "label " << l << " of sample " << n << " is not a class index below " << classes;
  return static_cast<int64_t>(l);
}
}  // namespace

void softmax_cross_entropy(const DTensor& logits, const DTensor& labels, DTensor& loss) {
  const int64_t N = logits.shape[0], K = logits.shape[1];
  double sum = 0;
  for (int64_t n = 0; n < N; ++n) {
    // −log softmax as log-sum-exp minus the label's logit: exact for large logits.
    double m = -INFINITY;
    for (int64_t k = 0; k < K; ++k) m = std::max(m, logits[n * K + k]);
    double se = 0;
    for (int64_t k = 0; k < K; ++k) se += std::exp(logits[n * K + k] - m);
    sum += m + std::log(se) - logits[n * K + label_of(labels, n, K)];
  }
  loss[0] = sum / static_cast<double>(N);
}

void softmax_cross_entropy_grad(const DTensor& logits, const DTensor& labels, const DTensor& dloss,
                                DTensor& dlogits) {
  const int64_t N = logits.shape[0], K = logits.shape[1];
  DTensor p(logits.shape);
  softmax(logits, 1, p);
  const double g = dloss[0] / static_cast<double>(N);
  for (int64_t n = 0; n < N; ++n) {
    const int64_t label = label_of(labels, n, K);
    for (int64_t k = 0; k < K; ++k)
      dlogits[n * K + k] += g * (p[n * K + k] - (k == label ? 1.0 : 0.0));
  }
}

void mse_loss(const DTensor& pred, const DTensor& target, DTensor& loss) {
  double sum = 0;
  for (int64_t i = 0; i < pred.size(); ++i) sum += (pred[i] - target[i]) * (pred[i] - target[i]);
  loss[0] = sum / static_cast<double>(pred.size());
}

void mse_loss_grad(const DTensor& pred, const DTensor& target, const DTensor& dloss,
                   DTensor& dpred) {
  const double g = 2 * dloss[0] / static_cast<double>(pred.size());
  for (int64_t i = 0; i < pred.size(); ++i) dpred[i] += g * (pred[i] - target[i]);
}

}  // namespace cnnc::reference
