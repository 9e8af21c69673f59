// Batch normalisation (inference and training) and local response normalisation.
#include <cmath>

#include "backends/reference/kernels.h"

namespace cnnc::reference {

namespace {
// [N, C, rest...]: N, C and the product of the rest (1 for 2-d inputs).
struct Nck {
  int64_t N, C, K;
};
Nck dims(const Tensor& x) {
  int64_t k = 1;
  for (int i = 2; i < x.shape.rank(); ++i) k *= x.shape[i];
  return {x.shape[0], x.shape[1], k};
}
}  // namespace

void batch_norm_inference(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                          const Tensor& mean, const Tensor& var, double eps, Tensor& y) {
  const auto [N, C, K] = dims(x);
  for (int64_t c = 0; c < C; ++c) {
    const double scale = gamma[c] / std::sqrt(static_cast<double>(var[c]) + eps);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < K; ++i) {
        const int64_t j = (n * C + c) * K + i;
        y[j] = static_cast<float>((x[j] - static_cast<double>(mean[c])) * scale + beta[c]);
      }
  }
}

void batch_norm_training(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                         const Tensor& mean, const Tensor& var, double eps, double momentum,
                         Tensor& y, Tensor& new_mean, Tensor& new_var) {
  const auto [N, C, K] = dims(x);
  const double M = static_cast<double>(N * K);  // values per channel (> 1: checked before running)
  for (int64_t c = 0; c < C; ++c) {
    double sum = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < K; ++i) sum += x[(n * C + c) * K + i];
    const double mu = sum / M;
    double sq = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < K; ++i) {
        const double d = x[(n * C + c) * K + i] - mu;
        sq += d * d;
      }
    const double biased = sq / M;
    const double scale = gamma[c] / std::sqrt(biased + eps);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < K; ++i) {
        const int64_t j = (n * C + c) * K + i;
        y[j] = static_cast<float>((x[j] - mu) * scale + beta[c]);
      }
    new_mean[c] = static_cast<float>((1 - momentum) * mean[c] + momentum * mu);
    new_var[c] = static_cast<float>((1 - momentum) * var[c] + momentum * biased * M / (M - 1));
  }
}

void lrn(const Tensor& x, const ir::LrnAttrs& a, Tensor& y) {
  // b_c = a_c / (k + alpha/size · Σ a_c'^2)^beta over the `size` channels
  // centred on c (zero beyond the edges), as PyTorch's LocalResponseNorm.
  const int64_t N = x.shape[0], C = x.shape[1], HW = x.shape[2] * x.shape[3];
  const int64_t half = a.size / 2;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i) {
        double sum = 0;
        for (int64_t cc = std::max<int64_t>(0, c - half); cc <= std::min<int64_t>(C - 1, c + half);
             ++cc) {
          const double v = x[(n * C + cc) * HW + i];
          sum += v * v;
        }
        const double div = std::pow(a.k + a.alpha / static_cast<double>(a.size) * sum, a.beta);
        y[(n * C + c) * HW + i] = static_cast<float>(x[(n * C + c) * HW + i] / div);
      }
}

}  // namespace cnnc::reference
