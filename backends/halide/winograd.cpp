#include "backends/halide/winograd.h"

namespace cnnc::halide {

const double kWinogradBT[6][6] = {
    {4, 0, -5, 0, 1, 0},  {0, -4, -4, 1, 1, 0}, {0, 4, -4, -1, 1, 0},
    {0, -2, -1, 2, 1, 0}, {0, 2, -1, -2, 1, 0}, {0, 4, 0, -5, 0, 1},
};
const double kWinogradG[6][3] = {
    {1.0 / 4, 0, 0},
    {-1.0 / 6, -1.0 / 6, -1.0 / 6},
    {-1.0 / 6, 1.0 / 6, -1.0 / 6},
    {1.0 / 24, 1.0 / 12, 1.0 / 6},
    {1.0 / 24, -1.0 / 12, 1.0 / 6},
    {0, 0, 1},
};
const double kWinogradAT[4][6] = {
    {1, 1, 1, 1, 1, 0},
    {0, 1, -1, 2, -2, 0},
    {0, 1, 1, 4, 4, 0},
    {0, 1, -1, 8, -8, 1},
};

bool winograd_applies(const ir::Conv2dAttrs& a, int64_t in_channels, int64_t out_h, int64_t out_w,
                      int64_t batch, bool in_blocked) {
  const int64_t tiles = winograd_tiles(out_h) * winograd_tiles(out_w) * batch;
  return a.kernel == ir::Hw{3, 3} && a.stride == ir::Hw{1, 1} && a.dilation == ir::Hw{1, 1} &&
         a.groups == 1 && in_channels >= 32 && tiles >= 16 && in_blocked;
}

std::vector<float> winograd_weights(const std::vector<float>& w, int64_t K, int64_t C, int B) {
  std::vector<float> u(static_cast<size_t>(K * C * kWinogradPoints));
  for (int64_t k = 0; k < K; ++k)
    for (int64_t c = 0; c < C; ++c) {
      const float* g = &w[static_cast<size_t>((k * C + c) * 9)];
      // G g (6×3), then (G g) Gᵀ (6×6).
      double gg[6][3];
      for (int i = 0; i < 6; ++i)
        for (int s = 0; s < 3; ++s) {
          gg[i][s] = 0;
          for (int r = 0; r < 3; ++r) gg[i][s] += kWinogradG[i][r] * g[r * 3 + s];
        }
      for (int i = 0; i < 6; ++i)
        for (int j = 0; j < 6; ++j) {
          double v = 0;
          for (int s = 0; s < 3; ++s) v += gg[i][s] * kWinogradG[j][s];
          const int64_t p = i * 6 + j;
          u[static_cast<size_t>(((k / B * kWinogradPoints + p) * C + c) * B + k % B)] =
              static_cast<float>(v);
        }
    }
  return u;
}

}  // namespace cnnc::halide
