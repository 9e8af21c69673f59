// Schedules are parameter structs, not code: a kernel template reads them to
// decide tiling, vectorisation and parallelism, so a tuner can change a
// schedule without touching the algorithm (the later `cnnc tune` fills them).
#pragma once

#include <cstdint>
#include <string>

namespace cnnc::halide {

/// The vector ISA a kernel variant is compiled for.
enum class Isa : uint8_t { Sse41, Avx2, Avx512 };
const char* isa_name(Isa i);
/// float32 lanes of a vector register: 16 (AVX-512), 8 (AVX2), 4 (SSE4.1).
int lanes(Isa isa);

struct Schedule {
  int vector = 8;  ///< lanes of the vectorised innermost dim (output width, or channels)
  int tile_k = 4;  ///< output channels per register tile (conv, linear)
  int tile_x = 1;  ///< vectors per register tile along the output width (conv)
  int parallel_split =
      1;          ///< output rows per parallel task (conv, pools); pixel tiles when fuse_pixels
  int chunk = 0;  ///< blocked conv: input channels summed per pass over a task's tiles (0: all)
  bool parallel = true;  ///< use the thread pool at all (small kernels run faster without)
  /// Plain conv and its input gradient: the output pixels of all images as one
  /// vector dimension (maps narrower than two vectors), see tmpl::pixel_sum.
  bool fuse_pixels = false;
  /// Winograd conv: the input transform of every tile computed once, before
  /// the tasks, which all read it (else each task transforms its own tiles).
  bool share_input = false;

  std::string key() const;  ///< "v8k4x1p1c0P1", "…F1" when fuse_pixels, "…S1" when share_input
  bool operator==(const Schedule&) const = default;
};

struct KernelSpec;

/// The default schedule of a kernel for an ISA: vectors as wide as the ISA,
/// register tiles that fit its registers (AVX2: 16 ymm, AVX-512: 32 zmm), and
/// no threads for kernels too small to repay the fork (≈ 64k output values).
Schedule default_schedule(const KernelSpec& spec, Isa isa);

}  // namespace cnnc::halide
