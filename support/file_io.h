// Reading inputs with the checks of the reliability contract (regular file,
// size limit, no FIFOs or devices) and writing outputs atomically (a temporary
// beside the target, fsync, rename), so an output is complete or absent.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "support/diagnostics.h"

namespace cnnc {

inline constexpr int64_t kDefaultMaxInputSize = int64_t{64} << 20;  // 64 MiB

/// Reads the whole file at `path` into memory. On failure reports an error at
/// `loc` (its file is usually `path` itself) and throws DiagnosticsAbort:
/// exit 4 for I/O problems (missing, unreadable, not a regular file),
/// exit 3 when the file is larger than `max_size` (naming `limit_flag`).
std::string read_input_file(const std::string& path, int64_t max_size, std::string_view limit_flag,
                            DiagnosticEngine& diag);

/// Writes `data` to `path` as output_files.h says: a regular file atomically
/// (`.NAME.tmp.PID.XXXXXX` in the same directory, fsync, rename), through a
/// symbolic link to what it names, in place to a device or FIFO. A failure
/// reports an I/O error naming `path`, removes the temporary, leaves any
/// existing file at `path` untouched, and throws.
void write_output_file_atomically(const std::string& path, std::string_view data,
                                  DiagnosticEngine& diag);

/// Whether the file system holding `path` (a file or directory) has less than
/// 1 MiB left: a failing tool (the linker, Halide writing a kernel) then
/// failed for want of space, an I/O error rather than an internal one.
bool disk_full(const std::string& path);

/// Human-readable byte count: "93.5 MiB", "512 B".
std::string format_bytes(int64_t bytes);

}  // namespace cnnc
