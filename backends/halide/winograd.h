// Winograd F(4×4, 3×3) convolution (Lavin & Gray, "Fast Algorithms for
// Convolutional Neural Networks", 2016): each 4×4 block of outputs ("tile")
// is computed from a 6×6 block of inputs with 36 element-wise products per
// channel pair instead of 144 multiply-adds, in three steps:
//   V = Bᵀ d B   (per input channel and tile: the input transform)
//   M = Σ_c U ⊙ V, U = G g Gᵀ  (36 independent channel-sum products)
//   Y = Aᵀ M A   (per output channel and tile: the output transform)
// The weight transform U is done once, at lowering, in double precision.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/attrs.h"

namespace cnnc::halide {

/// Output tile edge, input tile edge, and transform points (6×6).
constexpr int kWinogradTile = 4, kWinogradInput = 6, kWinogradPoints = 36;

/// Output tiles along an output extent (the last one possibly partial).
constexpr int64_t winograd_tiles(int64_t extent) {
  return (extent + kWinogradTile - 1) / kWinogradTile;
}

/// The transform matrices of F(4, 3), points 0, ±1, ±2 and ∞.
extern const double kWinogradBT[6][6];
extern const double kWinogradG[6][3];
extern const double kWinogradAT[4][6];

/// Whether a convolution is computed with F(4×4, 3×3): 3×3 kernels, stride and
/// dilation 1, ungrouped, at least 32 input channels (below that the
/// transforms cost more than the 4× fewer multiply-adds save), at least 16
/// output tiles over the batch (the transformed weights are 4× the direct
/// ones: a 7×7 map at batch 1 reads them for 4 tiles and is faster direct),
/// and the input in the blocked layout (the template reads channel blocks;
/// it writes either layout).
bool winograd_applies(const ir::Conv2dAttrs& a, int64_t in_channels, int64_t out_h, int64_t out_w,
                      int64_t batch, bool in_blocked);

/// The transformed weights U = G g Gᵀ of weights [K, C, 3, 3] (OIHW), packed
/// as the blocked convolution packs its taps: [K/B, 36, C, B] (outermost
/// first), point p = 6·(row point) + (column point).
std::vector<float> winograd_weights(const std::vector<float>& w, int64_t K, int64_t C, int B);

}  // namespace cnnc::halide
