// Checked 64-bit integer arithmetic for shapes and sizes: user input can ask for
// dimensions whose products overflow, and overflow must become an error, never UB.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

namespace cnnc {

inline std::optional<int64_t> checked_mul(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_mul_overflow(a, b, &r)) return std::nullopt;
  return r;
}

inline std::optional<int64_t> checked_add(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_add_overflow(a, b, &r)) return std::nullopt;
  return r;
}

inline std::optional<int64_t> checked_sub(int64_t a, int64_t b) {
  int64_t r;
  if (__builtin_sub_overflow(a, b, &r)) return std::nullopt;
  return r;
}

/// Product of all values; nullopt on overflow. The product of nothing is 1.
inline std::optional<int64_t> checked_product(std::span<const int64_t> v) {
  int64_t p = 1;
  for (int64_t x : v) {
    auto r = checked_mul(p, x);
    if (!r) return std::nullopt;
    p = *r;
  }
  return p;
}

/// Floor division for a positive divisor (C++ truncates toward zero).
inline int64_t floor_div(int64_t a, int64_t b) {
  int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

inline int64_t ceil_div(int64_t a, int64_t b) { return -floor_div(-a, b); }

/// Saturating add/mul for upper bounds (macro expansion counts): never overflow.
inline int64_t sat_add(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_add_overflow(a, b, &r) ? INT64_MAX : r;
}
inline int64_t sat_mul(int64_t a, int64_t b) {
  int64_t r;
  return __builtin_mul_overflow(a, b, &r) ? INT64_MAX : r;
}

}  // namespace cnnc
