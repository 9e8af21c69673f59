// conv2d and linear, forward and backward: the direct definitions, in double.
#include "backends/reference/kernels.h"

namespace cnnc::reference {

void conv2d(const DTensor& x, const DTensor& w, const DTensor* bias, const ir::Conv2dAttrs& a,
            DTensor& y) {
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t K = y.shape[1], OH = y.shape[2], OW = y.shape[3];
  const int64_t R = a.kernel.h, S = a.kernel.w;
  const int64_t Cg = C / a.groups, Kg = K / a.groups;
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t k = 0; k < K; ++k) {
      const int64_t c0 = (k / Kg) * Cg;  // first input channel of k's group
      for (int64_t oh = 0; oh < OH; ++oh) {
        for (int64_t ow = 0; ow < OW; ++ow) {
          double acc = bias ? (*bias)[k] : 0.0;
          for (int64_t c = 0; c < Cg; ++c) {
            for (int64_t r = 0; r < R; ++r) {
              const int64_t ih = oh * a.stride.h - a.pad.top + r * a.dilation.h;
              if (ih < 0 || ih >= H) continue;  // zero padding
              for (int64_t s = 0; s < S; ++s) {
                const int64_t iw = ow * a.stride.w - a.pad.left + s * a.dilation.w;
                if (iw < 0 || iw >= W) continue;
                acc += static_cast<double>(x[((n * C + c0 + c) * H + ih) * W + iw]) *
                       static_cast<double>(w[((k * Cg + c) * R + r) * S + s]);
              }
            }
          }
          y[((n * K + k) * OH + oh) * OW + ow] = acc;
        }
      }
    }
  }
}

void linear(const DTensor& x, const DTensor& w, const DTensor* bias, DTensor& y) {
  // x is read flattened: [N, in] with in = C·H·W in that order.
  const int64_t N = y.shape[0], out = y.shape[1], in = w.shape[1];
  for (int64_t n = 0; n < N; ++n) {
    for (int64_t o = 0; o < out; ++o) {
      double acc = bias ? (*bias)[o] : 0.0;
      for (int64_t i = 0; i < in; ++i)
        acc += static_cast<double>(x[n * in + i]) * static_cast<double>(w[o * in + i]);
      y[n * out + o] = acc;
    }
  }
}

void conv2d_grad(const DTensor& x, const DTensor& w, const DTensor& dy, const ir::Conv2dAttrs& a,
                 DTensor& dx, DTensor& dw, DTensor* db) {
  // The forward loops, each product's gradient sent back to both its factors.
  const int64_t N = x.shape[0], C = x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t K = dy.shape[1], OH = dy.shape[2], OW = dy.shape[3];
  const int64_t R = a.kernel.h, S = a.kernel.w;
  const int64_t Cg = C / a.groups, Kg = K / a.groups;
  for (int64_t n = 0; n < N; ++n)
    for (int64_t k = 0; k < K; ++k) {
      const int64_t c0 = (k / Kg) * Cg;
      for (int64_t oh = 0; oh < OH; ++oh)
        for (int64_t ow = 0; ow < OW; ++ow) {
          const double g = dy[((n * K + k) * OH + oh) * OW + ow];
          if (db) (*db)[k] += g;
          for (int64_t c = 0; c < Cg; ++c)
            for (int64_t r = 0; r < R; ++r) {
              const int64_t ih = oh * a.stride.h - a.pad.top + r * a.dilation.h;
              if (ih < 0 || ih >= H) continue;
              for (int64_t s = 0; s < S; ++s) {
                const int64_t iw = ow * a.stride.w - a.pad.left + s * a.dilation.w;
                if (iw < 0 || iw >= W) continue;
                const int64_t xi = ((n * C + c0 + c) * H + ih) * W + iw;
                const int64_t wi = ((k * Cg + c) * R + r) * S + s;
                dx[xi] += g * w[wi];
                dw[wi] += g * x[xi];
              }
            }
        }
    }
}

void linear_grad(const DTensor& x, const DTensor& w, const DTensor& dy, DTensor& dx, DTensor& dw,
                 DTensor* db) {
  const int64_t N = dy.shape[0], out = dy.shape[1], in = w.shape[1];
  for (int64_t n = 0; n < N; ++n)
    for (int64_t o = 0; o < out; ++o) {
      const double g = dy[n * out + o];
      if (db) (*db)[o] += g;
      for (int64_t i = 0; i < in; ++i) {
        dx[n * in + i] += g * w[o * in + i];
        dw[o * in + i] += g * x[n * in + i];
      }
    }
}

}  // namespace cnnc::reference
