// Pooling, forward and backward, with PyTorch's window rules: windows start at o·stride −
// pad_before; max pooling ignores the padding (it is −∞); average pooling divides by the window
// clipped to the padded input (count_include_pad) or to the input.
#include <algorithm>
#include <cmath>
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

// Calls visit(plane offset, output index, window along H, window along W) for
// every output element of a pool from x's shape to y's.
template <class Visit>
void for_each_window(const ir::Shape& x, const ir::PoolAttrs& a, const ir::Shape& y, Visit visit) {
  const int64_t NC = x[0] * x[1], H = x[2], W = x[3];
  const int64_t OH = y[2], OW = y[3];
  for (int64_t nc = 0; nc < NC; ++nc)
    for (int64_t oh = 0; oh < OH; ++oh) {
      const Window wh = window(oh, a.kernel.h, a.stride.h, a.pad.top, a.pad.bottom, H);
      for (int64_t ow = 0; ow < OW; ++ow) {
        const Window ww = window(ow, a.kernel.w, a.stride.w, a.pad.left, a.pad.right, W);
        visit(nc * H * W, (nc * OH + oh) * OW + ow, wh, ww);
      }
    }
}

// The first maximum of a window (row-major), or its last NaN (PyTorch: a NaN
// wins, and its gradient goes to the last), as an offset in its plane; -1
// when the window holds no input element.
int64_t argmax(const double* plane, int64_t W, Window wh, Window ww) {
  int64_t best = -1;
  double m = -std::numeric_limits<double>::infinity();  // padding never wins
  for (int64_t h = wh.begin; h < wh.end; ++h)
    for (int64_t w = ww.begin; w < ww.end; ++w) {
      const double v = plane[h * W + w];
      if (best < 0 || v > m || std::isnan(v)) {
        best = h * W + w;
        m = v;
      }
    }
  return best;
}

int64_t avg_count(const ir::AvgPoolAttrs& aa, Window wh, Window ww) {
  return aa.count_include_pad ? wh.padded * ww.padded : (wh.end - wh.begin) * (ww.end - ww.begin);
}

}  // namespace

void max_pool(const DTensor& x, const ir::PoolAttrs& a, DTensor& y) {
  const int64_t W = x.shape[3];
  for_each_window(x.shape, a, y.shape, [&](int64_t p, int64_t o, Window wh, Window ww) {
    const int64_t i = argmax(&x.data[static_cast<size_t>(p)], W, wh, ww);
    y[o] = i < 0 ? -std::numeric_limits<double>::infinity() : x[p + i];
  });
}

void avg_pool(const DTensor& x, const ir::AvgPoolAttrs& aa, DTensor& y) {
  const int64_t W = x.shape[3];
  for_each_window(x.shape, aa.pool, y.shape, [&](int64_t p, int64_t o, Window wh, Window ww) {
    double sum = 0;
    for (int64_t h = wh.begin; h < wh.end; ++h)
      for (int64_t w = ww.begin; w < ww.end; ++w) sum += x[p + h * W + w];
    y[o] = sum / static_cast<double>(avg_count(aa, wh, ww));
  });
}

void global_avg_pool(const DTensor& x, DTensor& y) {
  const int64_t NC = x.shape[0] * x.shape[1], HW = x.shape[2] * x.shape[3];
  for (int64_t nc = 0; nc < NC; ++nc) {
    double sum = 0;
    for (int64_t i = 0; i < HW; ++i) sum += x[nc * HW + i];
    y[nc] = sum / static_cast<double>(HW);
  }
}

void max_pool_grad(const DTensor& x, const ir::PoolAttrs& a, const DTensor& dy, DTensor& dx) {
  const int64_t W = x.shape[3];
  for_each_window(x.shape, a, dy.shape, [&](int64_t p, int64_t o, Window wh, Window ww) {
    const int64_t i = argmax(&x.data[static_cast<size_t>(p)], W, wh, ww);
    if (i >= 0) dx[p + i] += dy[o];
  });
}

void avg_pool_grad(const DTensor& x, const ir::AvgPoolAttrs& aa, const DTensor& dy, DTensor& dx) {
  const int64_t W = x.shape[3];
  for_each_window(x.shape, aa.pool, dy.shape, [&](int64_t p, int64_t o, Window wh, Window ww) {
    const double g = dy[o] / static_cast<double>(avg_count(aa, wh, ww));
    for (int64_t h = wh.begin; h < wh.end; ++h)
      for (int64_t w = ww.begin; w < ww.end; ++w) dx[p + h * W + w] += g;
  });
}

void global_avg_pool_grad(const DTensor& dy, DTensor& dx) {
  const int64_t NC = dx.shape[0] * dx.shape[1], HW = dx.shape[2] * dx.shape[3];
  for (int64_t nc = 0; nc < NC; ++nc)
    for (int64_t i = 0; i < HW; ++i) dx[nc * HW + i] += dy[nc] / static_cast<double>(HW);
}

}  // namespace cnnc::reference
