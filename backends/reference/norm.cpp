// Batch normalisation (inference and training) and local response normalisation,
// forward and backward.
#include <algorithm>
#include <cmath>
#include <vector>

#include "backends/reference/kernels.h"

namespace cnnc::reference {

namespace {
// [N, C, rest...]: N, C and the product of the rest (1 for 2-d inputs).
struct Nck {
  int64_t N, C, K;
};
Nck dims(const DTensor& x) {
  int64_t k = 1;
  for (int i = 2; i < x.shape.rank(); ++i) k *= x.shape[i];
  return {x.shape[0], x.shape[1], k};
}

// The batch mean and biased variance of channel c.
struct Moments {
  double mean, var;
};
Moments moments(const DTensor& x, int64_t c) {
  const auto [N, C, K] = dims(x);
  const double M = static_cast<double>(N * K);
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
  return {mu, sq / M};
}

// LRN's window sum term d_c = k + alpha/size · Σ a_c'^2 over the `size`
// channels centred on c (zero beyond the edges), at (n, ·, i).
double lrn_denominator(const DTensor& x, const ir::LrnAttrs& a, int64_t n, int64_t c, int64_t i) {
  const int64_t C = x.shape[1], HW = x.shape[2] * x.shape[3], half = a.size / 2;
  double sum = 0;
  for (int64_t cc = std::max<int64_t>(0, c - half); cc <= std::min<int64_t>(C - 1, c + half);
       ++cc) {
    const double v = x[(n * C + cc) * HW + i];
    sum += v * v;
  }
  return a.k + a.alpha / static_cast<double>(a.size) * sum;
}
}  // namespace

void batch_norm_inference(const DTensor& x, const DTensor& gamma, const DTensor& beta,
                          const DTensor& mean, const DTensor& var, double eps, DTensor& y) {
  const auto [N, C, K] = dims(x);
  for (int64_t c = 0; c < C; ++c) {
    const double scale = gamma[c] / std::sqrt(static_cast<double>(var[c]) + eps);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < K; ++i) {
        const int64_t j = (n * C + c) * K + i;
        y[j] = (x[j] - mean[c]) * scale + beta[c];
      }
  }
}

void batch_norm_training(const DTensor& x, const DTensor& gamma, const DTensor& beta,
                         const DTensor& mean, const DTensor& var, double eps, double momentum,
                         DTensor& y, DTensor& new_mean, DTensor& new_var) {
  const auto [N, C, K] = dims(x);
  const double M = static_cast<double>(N * K);  // values per channel (> 1: checked before running)
  for (int64_t c = 0; c < C; ++c) {
    const Moments m = moments(x, c);
    const double scale = gamma[c] / std::sqrt(m.var + eps);
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < K; ++i) {
        const int64_t j = (n * C + c) * K + i;
        y[j] = (x[j] - m.mean) * scale + beta[c];
      }
    new_mean[c] = (1 - momentum) * mean[c] + momentum * m.mean;
    new_var[c] = (1 - momentum) * var[c] + momentum * m.var * M / (M - 1);
  }
}

void batch_norm_grad(const DTensor& x, const DTensor& gamma, const DTensor& mean,
                     const DTensor& var, double eps, bool training, const DTensor& dy, DTensor& dx,
                     DTensor& dgamma, DTensor& dbeta) {
  const auto [N, C, K] = dims(x);
  const double M = static_cast<double>(N * K);
  for (int64_t c = 0; c < C; ++c) {
    const Moments m = training ? moments(x, c) : Moments{mean[c], var[c]};
    const double inv_std = 1 / std::sqrt(m.var + eps);
    double sum_dy = 0, sum_dy_xhat = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < K; ++i) {
        const int64_t j = (n * C + c) * K + i;
        sum_dy += dy[j];
        sum_dy_xhat += dy[j] * (x[j] - m.mean) * inv_std;
      }
    dbeta[c] += sum_dy;
    dgamma[c] += sum_dy_xhat;
    // Training: the batch mean and variance depend on x too, which removes the
    // gradient's mean and its projection on x̂.
    for (int64_t n = 0; n < N; ++n)
      for (int64_t i = 0; i < K; ++i) {
        const int64_t j = (n * C + c) * K + i;
        const double xhat = (x[j] - m.mean) * inv_std;
        const double g = training ? dy[j] - (sum_dy + xhat * sum_dy_xhat) / M : dy[j];
        dx[j] += gamma[c] * inv_std * g;
      }
  }
}

void lrn(const DTensor& x, const ir::LrnAttrs& a, DTensor& y) {
  // b_c = a_c / d_c^beta, as PyTorch's LocalResponseNorm.
  const int64_t N = x.shape[0], C = x.shape[1], HW = x.shape[2] * x.shape[3];
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t i = 0; i < HW; ++i)
        y[(n * C + c) * HW + i] =
            x[(n * C + c) * HW + i] / std::pow(lrn_denominator(x, a, n, c, i), a.beta);
}

void lrn_grad(const DTensor& x, const ir::LrnAttrs& a, const DTensor& dy, DTensor& dx) {
  // d b_c / d a_j = [c = j] d_c^-beta − 2·alpha·beta/size · a_c · a_j · d_c^(−beta−1)
  // for j in c's window; windows are symmetric, so j collects from c in its own.
  const int64_t N = x.shape[0], C = x.shape[1], HW = x.shape[2] * x.shape[3], half = a.size / 2;
  std::vector<double> d(static_cast<size_t>(C));
  for (int64_t n = 0; n < N; ++n)
    for (int64_t i = 0; i < HW; ++i) {
      for (int64_t c = 0; c < C; ++c) d[static_cast<size_t>(c)] = lrn_denominator(x, a, n, c, i);
      for (int64_t j = 0; j < C; ++j) {
        const int64_t xj = (n * C + j) * HW + i;
        double g = dy[xj] * std::pow(d[static_cast<size_t>(j)], -a.beta);
        for (int64_t c = std::max<int64_t>(0, j - half); c <= std::min<int64_t>(C - 1, j + half);
             ++c) {
          const int64_t xc = (n * C + c) * HW + i;
          g -= 2 * a.alpha * a.beta / static_cast<double>(a.size) * dy[xc] * x[xc] * x[xj] *
               std::pow(d[static_cast<size_t>(c)], -a.beta - 1);
        }
        dx[xj] += g;
      }
    }
}

}  // namespace cnnc::reference
