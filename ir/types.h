// Element types, shapes and the small value types used by op attributes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace cnnc::ir {

/// Element types. Only float32 is computed today; the enum leaves room for
/// integer labels (training) and reduced precision later.
enum class DType : uint8_t { F32 };

inline constexpr int kMaxRank = 8;
/// Largest single dimension: Halide buffer extents are int32.
inline constexpr int64_t kMaxDim = (int64_t{1} << 31) - 1;
/// Largest element count per tensor unless large buffers are enabled.
inline constexpr int64_t kMaxElements = (int64_t{1} << 31) - 1;

const char* dtype_name(DType t);  ///< "f32" (IR spelling)
int64_t dtype_size(DType t);      ///< bytes per element

/// A tensor shape: rank ≤ 8, every dimension in 1..2^31-1 (checked where built).
struct Shape {
  std::vector<int64_t> dims;

  int rank() const { return static_cast<int>(dims.size()); }
  int64_t operator[](int i) const { return dims[static_cast<size_t>(i)]; }
  /// Element count, or nullopt if it overflows int64.
  std::optional<int64_t> elements() const;
  /// "1x64x56x56"
  std::string str() const;
  bool operator==(const Shape&) const = default;
};

struct TensorType {
  DType dtype = DType::F32;
  Shape shape;
  bool operator==(const TensorType&) const = default;
  /// "f32[1,64,56,56]"
  std::string str() const;
};

/// A pair for 2-D window attributes (kernel, stride, dilation): height, width.
struct Hw {
  int64_t h = 0;
  int64_t w = 0;
  bool operator==(const Hw&) const = default;
  bool square() const { return h == w; }
};

/// Explicit padding of the two spatial dims.
struct Pad4 {
  int64_t top = 0, bottom = 0, left = 0, right = 0;
  bool operator==(const Pad4&) const = default;
  int64_t total_h() const { return top + bottom; }
  int64_t total_w() const { return left + right; }
};

}  // namespace cnnc::ir
