// What one generated kernel computes, independent of Halide: the op family,
// its attributes, and the geometry of every buffer it takes. Two layers with
// equal specs share one compiled kernel; the spec's key also keys the cache.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "backends/halide/schedule.h"
#include "ir/attrs.h"

namespace cnnc::halide {

/// A float32 buffer: dims innermost first (W, H, C, N for NCHW), extents and
/// strides in elements.
struct Geometry {
  int rank = 0;
  std::array<int32_t, 4> extent{};
  std::array<int32_t, 4> stride{};
  bool operator==(const Geometry&) const = default;
  int64_t elements() const;
  std::string str() const;  ///< "56x56x64x1/1,56,3136,200704"
};

enum class Family : uint8_t {
  Conv,           ///< x, w [S,R,Cg,K], bias?, residual?; epilogue
  Linear,         ///< x [F,N], w^T [units,F], bias?, residual?; epilogue
  MaxPool,        ///< x
  AvgPool,        ///< x
  GlobalAvgPool,  ///< x [W,H,C,N] -> [1,1,C,N]
  Lrn,            ///< x
  Softmax,        ///< x viewed [inner, axis, outer]
  Elementwise,    ///< inputs viewed [inner, C, outer]; see ElementwiseOp
};

const char* family_name(Family f);

/// What an elementwise kernel computes, before its activation:
///   Copy: x;  Scale: x·s;  ScaleShift: x·scale[c] + shift[c];  Sum: x0 + x1 + ...
enum class ElementwiseOp : uint8_t { Copy, Scale, ScaleShift, Sum };

struct KernelSpec {
  Family family = Family::Elementwise;
  /// Argument buffers in call order; the output is last.
  std::vector<Geometry> args;

  // Conv and Linear.
  ir::Conv2dAttrs conv;  ///< kernel, stride, pad, dilation, groups (filters = K)
  bool bias = false;
  ir::Epilogue epilogue;  ///< also the activation of Elementwise kernels
  // Pooling.
  ir::PoolAttrs pool;
  bool count_include_pad = true;
  // Lrn.
  ir::LrnAttrs lrn;
  // Elementwise.
  ElementwiseOp ew = ElementwiseOp::Copy;
  double scale = 1.0;
  int inputs = 1;  ///< data inputs (Sum)

  /// Canonical text of everything above: equal keys compute the same function.
  std::string key() const;
};

/// The function name of a compiled kernel: a stable hash of the spec and of
/// everything else that shapes its code (schedules, targets, compiler version).
std::string kernel_symbol(const KernelSpec& spec, const std::string& variant);

/// A stable 64-bit FNV-1a hash, as hex.
std::string stable_hash(const std::string& text);

}  // namespace cnnc::halide
