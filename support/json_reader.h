// A strict JSON reader that keeps the line and column of every value and key.
//
// nlohmann/json forgets positions after parsing and recurses without a depth
// limit (nlohmann/json#5387), so specs are read with this small reader instead:
// RFC 8259 only (no comments, NaN or trailing commas), UTF-8 validated, duplicate
// keys rejected, nesting depth capped. Numbers keep their source text so that
// errors can quote what the user wrote ("got 1e400").
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace cnnc::json {

struct Pos {
  int32_t line = 1;
  int32_t col = 1;
};

class Value;

struct Member;

enum class Kind : uint8_t { Null, Bool, Number, String, Array, Object };

class Value {
 public:
  Kind kind = Kind::Null;
  Pos pos;
  bool boolean = false;
  std::string text;     ///< String: the decoded value. Number: the source text.
  double number = 0.0;  ///< Number: the value (±inf when out of range)
  /// Number: true when written without fraction or exponent and it fits int64.
  bool is_int = false;
  int64_t int_value = 0;
  std::vector<Value> items;     ///< Array
  std::vector<Member> members;  ///< Object, in source order

  /// The member named `key`, or nullptr (objects only).
  const Value* find(std::string_view key) const;
  const Member* find_member(std::string_view key) const;
  bool is(Kind k) const { return kind == k; }
};

struct Member {
  std::string key;
  Pos key_pos;
  Value value;
};

/// "an object", "a string", ... for messages.
const char* kind_phrase(Kind k);

struct Limits {
  int max_depth = 64;
  /// Most members one object may have; more is an error at the first extra
  /// one, before the rest is read (header-bloat inputs).
  int64_t max_object_members = INT64_MAX;
};

struct ParseError {
  Pos pos;
  std::string message;
};

/// Parses `text`. Returns nullopt and fills `err` on the first syntax error.
std::optional<Value> parse(std::string_view text, const Limits& limits, ParseError& err);

/// Renders a value back as compact JSON text (for messages and tests).
std::string to_string(const Value& v);

/// A JSON string literal for `s` (quotes, backslashes and control characters escaped).
std::string quote(std::string_view s);

}  // namespace cnnc::json
