#include "backends/halide/schedule.h"

#include <algorithm>

#include "backends/halide/kernel_spec.h"

namespace cnnc::halide {

namespace {

int lanes(Isa isa) { return isa == Isa::Avx512 ? 16 : isa == Isa::Avx2 ? 8 : 4; }

// The widest power of two ≤ min(want, extent): splits must not exceed the extent.
int fit(int want, int64_t extent) {
  int v = 1;
  while (v * 2 <= want && v * 2 <= extent) v *= 2;
  return v;
}

}  // namespace

Schedule default_schedule(const KernelSpec& spec, Isa isa) {
  Schedule s;
  const Geometry& out = spec.args.back();
  const int64_t width = out.extent[0];
  s.vector = fit(lanes(isa), width);
  // Threads repay their fork-join when a kernel does enough work: output
  // elements for data movement, multiply-adds for convolutions and linear
  // layers (a 7x7x512 conv has few outputs but 115 M multiply-adds).
  int64_t work = out.elements();
  if (spec.family == Family::Conv) work *= spec.args[1].elements() / out.extent[2];
  if (spec.family == Family::Linear) work = spec.args[1].elements() * out.extent[1];
  s.parallel = work >= 65536;
  switch (spec.family) {
    case Family::Conv: {
      // Register tile: tile_x vectors along the width × tile_k output channels,
      // 12 accumulators of 16 registers on AVX2 (24 of 32 on AVX-512). Measured
      // on ResNet-50 (AVX2, 2 threads, batch 1): k6x2 94.6 ms, k5x2 101, k6x1
      // 105, k8x1 104, k8x2 109 (spills), k12x1 114, k4x3 119, k3x4 168.
      const int64_t k = out.extent[2];
      const int64_t vectors = std::max<int64_t>(1, width / s.vector);
      s.tile_x = static_cast<int>(std::min<int64_t>(2, vectors));
      s.tile_k = static_cast<int>(std::min<int64_t>(isa == Isa::Avx512 ? 12 : 6, k));
      s.parallel_split = 1;
      break;
    }
    case Family::Linear: {
      // Vectorised over units: output extent 0 is the units.
      s.tile_x = static_cast<int>(std::min<int64_t>(4, std::max<int64_t>(1, width / s.vector)));
      s.tile_k = 1;
      break;
    }
    default:
      s.tile_k = 1;
      s.tile_x = 1;
      break;
  }
  return s;
}

}  // namespace cnnc::halide
