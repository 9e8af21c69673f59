// Optimizer steps, as PyTorch's torch.optim.SGD, Adam and AdamW (see
// ir/op_defs.def for the formulas).
#include <cmath>

#include "backends/reference/kernels.h"

namespace cnnc::reference {

void sgd_update(const ir::SgdAttrs& a, const DTensor& grad, double lr, const DTensor& p,
                const DTensor* v, DTensor& p_next, DTensor* v_next) {
  for (int64_t i = 0; i < p.size(); ++i) {
    double g = grad[i] + a.weight_decay * p[i];
    if (v) {
      const double vi = a.momentum * (*v)[i] + g;
      (*v_next)[i] = vi;
      g = a.nesterov ? g + a.momentum * vi : vi;
    }
    p_next[i] = p[i] - lr * g;
  }
}

void adam_update(const ir::AdamAttrs& a, const DTensor& grad, double lr, double t, const DTensor& p,
                 const DTensor& m, const DTensor& v, DTensor& p_next, DTensor& m_next,
                 DTensor& v_next) {
  const double c1 = 1 - std::pow(a.beta1, t), c2 = 1 - std::pow(a.beta2, t);
  for (int64_t i = 0; i < p.size(); ++i) {
    double pi = p[i], g = grad[i];
    if (a.decoupled)
      pi *= 1 - lr * a.weight_decay;
    else
      g += a.weight_decay * pi;
    const double mi = a.beta1 * m[i] + (1 - a.beta1) * g;
    const double vi = a.beta2 * v[i] + (1 - a.beta2) * g * g;
    m_next[i] = mi;
    v_next[i] = vi;
    p_next[i] = pi - lr * (mi / c1) / (std::sqrt(vi / c2) + a.eps);
  }
}

}  // namespace cnnc::reference
