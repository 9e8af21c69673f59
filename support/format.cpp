#include "support/format.h"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace cnnc {

namespace {
template <class T>
std::string shortest(T v) {
  if (std::isnan(v)) return "nan";
  if (std::isinf(v)) return v > 0 ? "inf" : "-inf";
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, r.ptr);
}
}  // namespace

std::string format_double(double v) { return shortest(v); }
std::string format_float(float v) { return shortest(v); }

std::string format_thousands(int64_t v) {
  std::string digits = std::to_string(v < 0 ? -(v + 1) + 1ULL : static_cast<uint64_t>(v));
  std::string out;
  int n = 0;
  for (auto it = digits.rbegin(); it != digits.rend(); ++it) {
    if (n && n % 3 == 0) out += ',';
    out += *it;
    ++n;
  }
  if (v < 0) out += '-';
  return std::string(out.rbegin(), out.rend());
}

std::string format_si(double v) {
  static const char* suffix[] = {"", "K", "M", "G", "T", "P", "E"};
  int u = 0;
  double a = std::fabs(v);
  while (a >= 1000.0 && u < 6) {
    a /= 1000.0;
    v /= 1000.0;
    ++u;
  }
  char buf[32];
  if (u == 0 && v == std::floor(v))
    std::snprintf(buf, sizeof buf, "%.0f", v);
  else
    std::snprintf(buf, sizeof buf, "%.3g%s", v, suffix[u]);
  return buf;
}

std::string printable(std::string_view s) {
  std::string out;
  for (unsigned char c : s) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char b[8];
      std::snprintf(b, sizeof b, "\\x%02x", c);
      out += b;
    }
  }
  return out;
}

}  // namespace cnnc
