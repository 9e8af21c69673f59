// How far computed values are from reference values, element by element: the
// one comparator of `cnnc run --check`, `cnnc tune`'s check and the back-end
// tests.
#pragma once

#include <cstdint>
#include <span>
#include <string>

namespace cnnc {

/// Element i of `got` matches element i of `want` when both are NaN, both
/// the same infinity, or both finite with
///   |got - want| <= rtol * |want| + floor * max |want|
/// (the largest finite |want| of the tensor: a sum of many terms that cancels
/// to near zero carries the rounding of terms the size of its neighbours).
struct Tolerance {
  double rtol = 1e-4;
  double floor = 1e-5;
  std::string str() const;  ///< "1e-04*|ref| + 1e-05*max|ref|"
};

/// The comparison of one or more tensors (merge() accumulates them).
struct NumericDiff {
  double max_abs = 0;     ///< largest |got - want| over the elements finite on both sides
  double worst = 0;       ///< largest |got - want| / its tolerance
  int64_t nonfinite = 0;  ///< elements NaN or infinite on one side only, or unlike infinities
  int64_t elements = 0;
  std::string
      where;  ///< the worst element (or the first non-finite mismatch), e.g. "'y'[3]: 1 vs 2"
  bool ok() const { return nonfinite == 0 && worst <= 1; }
  /// "max |diff| 2.4e-07, 0.012 of the tolerance" or "3 values NaN or infinite on
  /// one side only (first: 'y'[3]: nan vs 0.5)".
  std::string str() const;
  void merge(const NumericDiff& o);
};

/// Compares `got` with `want` (same length); `name` labels the elements in `where`.
NumericDiff numeric_diff(std::span<const float> got, std::span<const float> want,
                         const Tolerance& tol, const std::string& name = "");

}  // namespace cnnc
