// The safetensors weight format (huggingface/safetensors): an 8-byte
// little-endian header length N, N bytes of JSON
//   {"__metadata__": {"k": "v"}, "name": {"dtype": "F32", "shape": [..], "data_offsets": [b, e]},
//   ...}
// then the data; offsets are relative to the data, contiguous, and cover it.
//
// Reading validates everything before it allocates tensors (reliability
// contract, group E): size and magic (pickles and PyTorch zips are refused,
// never unpickled), header length, JSON syntax, entries, dtypes (F32; F16 and
// BF16 are widened), shapes (checked products), offsets (in range, no gap, no
// overlap, exact cover).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ir/tensor.h"
#include "support/diagnostics.h"

namespace cnnc::io {

struct NamedTensor {
  std::string name;
  ir::Tensor tensor;
};

using Metadata = std::vector<std::pair<std::string, std::string>>;

struct SafetensorsLimits {
  int64_t max_header_bytes = 100'000'000;  ///< as the reference implementation
  int64_t max_entries = 1'000'000;
  int64_t max_file_bytes = int64_t{64} << 30;  ///< --max-weights-size
};

/// Parses a whole safetensors file held in memory; `path` names it in messages.
/// Reports every problem found and returns nullopt if there was any. The
/// header's __metadata__ goes to `metadata` when given.
std::optional<std::vector<NamedTensor>> parse_safetensors(std::string_view bytes,
                                                          const std::string& path,
                                                          DiagnosticEngine& diag,
                                                          const SafetensorsLimits& limits = {},
                                                          Metadata* metadata = nullptr);

/// Reads and parses the file at `path` (regular file, size limit, then parse).
std::optional<std::vector<NamedTensor>> read_safetensors(const std::string& path,
                                                         DiagnosticEngine& diag,
                                                         const SafetensorsLimits& limits = {},
                                                         Metadata* metadata = nullptr);

/// The bytes of a safetensors file with the tensors in the given order (F32),
/// the header padded with spaces so the data starts 8-byte aligned.
/// Deterministic: the same tensors and metadata give the same bytes.
std::string serialize_safetensors(
    const std::vector<std::pair<std::string, const ir::Tensor*>>& tensors,
    const Metadata& metadata);

/// Writes serialize_safetensors(...) to `path` atomically.
void write_safetensors(const std::string& path,
                       const std::vector<std::pair<std::string, const ir::Tensor*>>& tensors,
                       const Metadata& metadata, DiagnosticEngine& diag);

}  // namespace cnnc::io
