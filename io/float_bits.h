// Bit-exact conversions for tensor file formats: little-endian loads, float32
// bit patterns, IEEE half precision. No host-endianness or libm dependence.
#pragma once

#include <cstdint>
#include <cstring>

namespace cnnc::io {

inline uint32_t load_u32_le(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return uint32_t{b[0]} | uint32_t{b[1]} << 8 | uint32_t{b[2]} << 16 | uint32_t{b[3]} << 24;
}

inline uint16_t load_u16_le(const char* p) {
  const auto* b = reinterpret_cast<const unsigned char*>(p);
  return static_cast<uint16_t>(b[0] | b[1] << 8);
}

inline float float_from_bits(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

inline uint32_t float_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}

/// IEEE 754 binary16 to binary32, exactly (subnormals, infinities, NaN).
inline float half_to_float(uint16_t h) {
  uint32_t sign = uint32_t{h & 0x8000u} << 16;
  uint32_t exp = (h >> 10) & 0x1F;
  uint32_t mant = h & 0x3FF;
  if (exp == 0x1F) return float_from_bits(sign | 0x7F800000u | (mant << 13));  // inf, NaN
  if (exp == 0) {
    if (mant == 0) return float_from_bits(sign);
    // Subnormal: renormalise.
    int e = -1;
    do {
      ++e;
      mant <<= 1;
    } while ((mant & 0x400) == 0);
    return float_from_bits(sign | (uint32_t(127 - 15 - e) << 23) | ((mant & 0x3FF) << 13));
  }
  return float_from_bits(sign | ((exp + 127 - 15) << 23) | (mant << 13));
}

}  // namespace cnnc::io
