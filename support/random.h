// A seeded random stream that gives the same numbers on every machine:
// SplitMix64 for bits, and only IEEE basic operations (+ - * / sqrt, all
// correctly rounded) for floating point. libm's log/cos are avoided because
// glibc picks different implementations (FMA or not) per CPU at run time.
#pragma once

#include <cstdint>
#include <string_view>

namespace cnnc {

class RandomStream {
 public:
  /// One stream per (seed, key): e.g. a parameter or layer name, so streams do
  /// not shift when other layers are added.
  RandomStream(uint64_t seed, std::string_view key);
  /// The hash of `key` the stream's state mixes in (compiled kernels that
  /// reproduce a stream need it).
  static uint64_t key_hash(std::string_view key);

  uint64_t next();
  /// Uniform in [0, 1), 53 random bits.
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  /// Standard normal (Marsaglia's polar method).
  double normal();

 private:
  uint64_t state_;
};

/// ln x for x > 0 from IEEE basic operations only (within 2 ulp of the true value).
double portable_log(double x);

}  // namespace cnnc
