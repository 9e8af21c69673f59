// Pooling with PyTorch's window rules: windows start at o·stride − pad_before;
// max pooling ignores the padding (it is −∞); average pooling divides by the
// window clipped to the padded input (count_include_pad) or to the input.
#include <algorithm>
#include <limits>

#include "backends/reference/kernels.h"

namespace cnnc::reference {

namespace {

// The window of output index o along one dim: [begin, end) within the input,
// and its extent within the padded input (what count_include_pad divides by).
struct Window {
  int64_t begin, end, padded;
};

Window window(int64_t o, int64_t kernel, int64_t stride, int64_t pad_before, int64_t pad_after,
              int64_t n) {
  const int64_t start = o * stride - pad_before;
  const int64_t stop = std::min(start + kernel, n + pad_after);
  return {std::max<int64_t>(start, 0), std::min(stop, n), stop - start};
}

// Calls reduce(plane, window along H, window along W) for every output element.
template <class Reduce>
void for_each_window(const Tensor& x, const ir::PoolAttrs& a, Tensor& y, Reduce reduce) {
  const int64_t NC = x.shape[0] * x.shape[1], H = x.shape[2], W = x.shape[3];
  const int64_t OH = y.shape[2], OW = y.shape[3];
  for (int64_t nc = 0; nc < NC; ++nc)
    for (int64_t oh = 0; oh < OH; ++oh) {
      const Window wh = window(oh, a.kernel.h, a.stride.h, a.pad.top, a.pad.bottom, H);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const Window ww = window(ow, a.kernel.w, a.stride.w, a.pad.left, a.pad.right, W);
        y[(nc * OH + oh) * OW + ow] = reduce(&x.data[static_cast<size_t>(nc * H * W)], wh, ww);
      }
    }
}

}  // namespace

void max_pool(const Tensor& x, const ir::PoolAttrs& a, Tensor& y) {
  const int64_t W = x.shape[3];
  for_each_window(x, a, y, [W](const float* plane, Window wh, Window ww) {
    float m = -std::numeric_limits<float>::infinity();  // padding never wins
    for (int64_t h = wh.begin; h < wh.end; ++h)
      for (int64_t w = ww.begin; w < ww.end; ++w) m = std::max(m, plane[h * W + w]);
    return m;
  });
}

void avg_pool(const Tensor& x, const ir::AvgPoolAttrs& aa, Tensor& y) {
  const int64_t W = x.shape[3];
  for_each_window(x, aa.pool, y, [&](const float* plane, Window wh, Window ww) {
    double sum = 0;
    for (int64_t h = wh.begin; h < wh.end; ++h)
      for (int64_t w = ww.begin; w < ww.end; ++w) sum += plane[h * W + w];
    const int64_t count =
        aa.count_include_pad ? wh.padded * ww.padded : (wh.end - wh.begin) * (ww.end - ww.begin);
    return static_cast<float>(sum / static_cast<double>(count));
  });
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
