// Number and text formatting shared by the printer, the report and messages.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace cnnc {

/// Shortest text that reads back as the same double ("0.1", "1e-05", "2").
std::string format_double(double v);

/// Shortest text that reads back as the same float ("-0.2", not -0.200000003).
std::string format_float(float v);

/// 61100840 -> "61,100,840"
std::string format_thousands(int64_t v);

/// Scaled with a unit suffix: 4089184256 -> "4.09G", 1234 -> "1.23K", 12 -> "12".
std::string format_si(double v);

/// `s` for a message: bytes other than printable ASCII (NUL, newlines,
/// terminal escapes) as \xNN.
std::string printable(std::string_view s);

}  // namespace cnnc
