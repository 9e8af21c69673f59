// Protocol Buffers text format (what Caffe's .prototxt files are), parsed into
// a schema-less tree with positions, so the Caffe reader can point at the line
// and column of any field. Nesting is bounded (catalog G-02).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "support/diagnostics.h"

namespace cnnc::frontend::prototxt {

enum class ScalarKind : uint8_t { String, Identifier, Number };

struct Field {
  std::string name;
  int32_t line = 0, col = 0;
  bool is_message = false;
  ScalarKind kind = ScalarKind::Identifier;  ///< scalars
  std::string text;                          ///< scalars: decoded string, identifier or number text
  std::vector<Field> fields;                 ///< messages, in file order

  /// Every sub-field named `n`, in order.
  std::vector<const Field*> all(std::string_view n) const;
  /// The last sub-field named `n` (protobuf: the last value of a singular field wins).
  const Field* find(std::string_view n) const;
};

/// Parses `text`; reports the first syntax error at its line:col (file from
/// `file`) and returns nullopt. The result is the top-level message.
std::optional<Field> parse(std::string_view text, const SourceLoc& file, int max_depth,
                           DiagnosticEngine& diag);

}  // namespace cnnc::frontend::prototxt
