#include "support/random.h"

#include <cmath>

namespace cnnc {

uint64_t RandomStream::key_hash(std::string_view key) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  for (unsigned char c : key) h = (h ^ c) * 1099511628211ull;
  return h;
}

RandomStream::RandomStream(uint64_t seed, std::string_view key)
    : state_(seed * 0x9E3779B97F4A7C15ull ^ key_hash(key)) {}

uint64_t RandomStream::next() {  // SplitMix64 (Steele, Lea, Flood 2014)
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

double RandomStream::normal() {
  while (true) {
    double u = 2 * uniform() - 1, v = 2 * uniform() - 1;
    double s = u * u + v * v;
    if (s >= 1 || s == 0) continue;
    return u * std::sqrt(-2 * portable_log(s) / s);
  }
}

double portable_log(double x) {
  // x = m·2^e with m in [√½, √2); ln m = 2·atanh(t), t = (m-1)/(m+1), |t| < 0.172,
  // so 20 odd terms of the series reach double precision. frexp is exact.
  int e = 0;
  double m = std::frexp(x, &e);
  if (m < 0.70710678118654752440) {
    m *= 2;
    --e;
  }
  double t = (m - 1) / (m + 1), t2 = t * t, term = t, sum = 0;
  for (int k = 1; k < 40; k += 2) {
    sum += term / k;
    term *= t2;
  }
  return 2 * sum + e * 0.69314718055994530942;
}

}  // namespace cnnc
