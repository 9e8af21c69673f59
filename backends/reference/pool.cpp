// Pooling with PyTorch's window rules: windows start at o·stride − pad_before;
// max pooling ignores the padding (it is −∞); average pooling divides by the
// window clipped to the padded input (count_include_pad) or to the input.
#include <algorithm>
#include <limits>

#include "backends/reference/kernels.h"

namespace cnnc::reference {

void max_pool(const Tensor& x, const ir::PoolAttrs& a, Tensor& y) {
  const int64_t NC = x.shape[0] * x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t OH = y.shape[2], OW = y.shape[3];
  for (int64_t nc = 0; nc < NC; ++nc) {
    for (int64_t oh = 0; oh < OH; ++oh) {
      const int64_t h0 = std::max<int64_t>(oh * a.stride.h - a.pad.top, 0);
      const int64_t h1 = std::min<int64_t>(oh * a.stride.h - a.pad.top + a.kernel.h, H);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const int64_t w0 = std::max<int64_t>(ow * a.stride.w - a.pad.left, 0);
        const int64_t w1 = std::min<int64_t>(ow * a.stride.w - a.pad.left + a.kernel.w, W);
        float m = -std::numeric_limits<float>::infinity();
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) m = std::max(m, x[(nc * H + h) * W + w]);
        y[(nc * OH + oh) * OW + ow] = m;
      }
    }
  }
}

void avg_pool(const Tensor& x, const ir::AvgPoolAttrs& aa, Tensor& y) {
  const ir::PoolAttrs& a = aa.pool;
  const int64_t NC = x.shape[0] * x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t OH = y.shape[2], OW = y.shape[3];
  for (int64_t nc = 0; nc < NC; ++nc) {
    for (int64_t oh = 0; oh < OH; ++oh) {
      int64_t h0 = oh * a.stride.h - a.pad.top;
      int64_t h1 = std::min<int64_t>(h0 + a.kernel.h, H + a.pad.bottom);
      const int64_t padded_h = h1 - h0;
      h0 = std::max<int64_t>(h0, 0);
      h1 = std::min<int64_t>(h1, H);
      for (int64_t ow = 0; ow < OW; ++ow) {
        int64_t w0 = ow * a.stride.w - a.pad.left;
        int64_t w1 = std::min<int64_t>(w0 + a.kernel.w, W + a.pad.right);
        const int64_t padded_w = w1 - w0;
        w0 = std::max<int64_t>(w0, 0);
        w1 = std::min<int64_t>(w1, W);
        double sum = 0;
        for (int64_t h = h0; h < h1; ++h)
          for (int64_t w = w0; w < w1; ++w) sum += x[(nc * H + h) * W + w];
        const int64_t count = aa.count_include_pad ? padded_h * padded_w : (h1 - h0) * (w1 - w0);
        y[(nc * OH + oh) * OW + ow] = static_cast<float>(sum / static_cast<double>(count));
      }
    }
  }
}

void global_avg_pool(const Tensor& x, Tensor& y) {
  const int64_t NC = x.shape[0] * x.shape[1], HW = x.shape[2] * x.shape[3];
  for (int64_t nc = 0; nc < NC; ++nc) {
    double sum = 0;
    for (int64_t i = 0; i < HW; ++i) sum += x[nc * HW + i];
    y[nc] = static_cast<float>(sum / static_cast<double>(HW));
  }
}

}  // namespace cnnc::reference
