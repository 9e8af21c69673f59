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
  s.parallel = out.elements() >= 65536 ||
               (spec.family == Family::Linear && spec.args[1].elements() >= 65536);
  switch (spec.family) {
    case Family::Conv: {
      // Accumulators: tile_k × tile_x vectors, leaving registers for the
      // broadcast weight and the input vector (AVX2 16 ymm, AVX-512 32 zmm).
      const int64_t k = out.extent[2];
      const int64_t vectors = std::max<int64_t>(1, width / s.vector);
      s.tile_x = static_cast<int>(std::min<int64_t>(isa == Isa::Avx512 ? 4 : 2, vectors));
      // Tiles that do not divide the width run their tail twice; prefer 1.
      if (width % (s.vector * s.tile_x) != 0 && width % s.vector == 0) s.tile_x = 1;
      s.tile_k = static_cast<int>(std::min<int64_t>(isa == Isa::Avx512 ? 6 : 4, k));
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
