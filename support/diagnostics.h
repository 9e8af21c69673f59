// Diagnostics: user-facing errors, warnings and notes with source locations.
//
// Format (as compilers print them):
//   net.json:14:7: error: layer 'conv1': kernel 7x7 is larger than the padded input 5x5
//   net.json:40:9: note: in instance 'layer1.0' of block 'bottleneck'
// User errors never mix with internal errors (see internal_error.h).
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace cnnc {

struct InstantiationFrame;

/// A place in an input file. Cheap to copy: the file name is shared.
/// `from` chains block instantiations: the layer inside a block points at the
/// instance that expanded it, so errors name both the block line and the instance.
struct SourceLoc {
  std::shared_ptr<const std::string> file;
  int32_t line = 0;  ///< 1-based; 0 means "the whole file"
  int32_t col = 0;   ///< 1-based byte column; 0 means unknown
  std::shared_ptr<const InstantiationFrame> from;

  bool known() const { return file != nullptr; }
  /// "file:line:col", "file" or "" depending on what is known.
  std::string str() const;
  /// Same file, another position; keeps the instantiation chain.
  SourceLoc at(int32_t l, int32_t c) const { return SourceLoc{file, l, c, from}; }
};

/// One level of block expansion: "in instance 'layer1.0' of block 'bottleneck'".
struct InstantiationFrame {
  SourceLoc at;  ///< the instance's position in the spec
  std::string instance;
  std::string block;
};

SourceLoc make_file_loc(std::string path);

/// Exit statuses of the cnnc tool (documented in `cnnc --help` and the README).
enum class ExitCode : int {
  Ok = 0,
  InvalidInput = 1,
  Usage = 2,
  ResourceLimit = 3,
  IoError = 4,
  Internal = 70,
  Interrupted = 130,
};

enum class Severity { Error, Warning, Note };

struct Note {
  SourceLoc loc;  ///< may be unknown: printed as "note: ..."
  std::string message;
};

struct Diagnostic {
  Severity severity = Severity::Error;
  SourceLoc loc;
  std::string message;
  std::vector<Note> notes;
  ExitCode kind = ExitCode::InvalidInput;  ///< for errors: the exit status it implies
};

/// Thrown to stop processing after a fatal error or too many errors.
/// Caught at the verb boundary; the diagnostics were already printed.
struct DiagnosticsAbort {};

struct DiagnosticOptions {
  int max_errors = 20;  ///< stop after this many errors (as a compiler does)
  bool warnings_as_errors = false;
};

/// Collects and prints diagnostics. Errors are printed as they arrive.
class DiagnosticEngine {
 public:
  explicit DiagnosticEngine(std::ostream& out, DiagnosticOptions opts = {});

  void report(Diagnostic d);
  void error(const SourceLoc& loc, std::string message, std::vector<Note> notes = {},
             ExitCode kind = ExitCode::InvalidInput);
  void warning(const SourceLoc& loc, std::string message, std::vector<Note> notes = {});
  /// Information for the user that is neither an error nor a warning.
  void note(const SourceLoc& loc, std::string message);
  /// Reports the error, then throws DiagnosticsAbort.
  [[noreturn]] void fatal(const SourceLoc& loc, std::string message, std::vector<Note> notes = {},
                          ExitCode kind = ExitCode::InvalidInput);

  int error_count() const { return errors_; }
  int warning_count() const { return warnings_; }
  bool has_errors() const { return errors_ > 0; }
  /// The exit status implied by the first error (Ok when there was none).
  ExitCode exit_code() const { return first_kind_; }
  /// Throws DiagnosticsAbort if any error was reported.
  void check() const;
  const DiagnosticOptions& options() const { return opts_; }
  /// All diagnostics reported so far (for tests and library callers).
  const std::vector<Diagnostic>& all() const { return all_; }

 private:
  void print(const Diagnostic& d);

  std::ostream& out_;
  DiagnosticOptions opts_;
  int errors_ = 0;
  int warnings_ = 0;
  ExitCode first_kind_ = ExitCode::Ok;
  std::vector<Diagnostic> all_;
};

}  // namespace cnnc
