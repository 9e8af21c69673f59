// The outputs of one command, written so that nothing the user already had
// is damaged: each lands complete or not at all, and all of a command's
// outputs land together (the library, its header, its weights file).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "support/diagnostics.h"

namespace cnnc {

/// Where an output named `path` goes:
///  - a regular file, or nothing yet: replaced atomically (a temporary beside
///    it, fsync, rename);
///  - a symbolic link: followed (the file it names is replaced, the link
///    kept), as any program writing the path would;
///  - a character device, FIFO or socket, or any path under /dev or /proc
///    (/dev/null, /dev/stdout): written through, in place, never renamed
///    over;
///  - a directory or a block device: refused (exit 4).
struct OutputTarget {
  std::string path;      ///< the file that is written (links resolved)
  bool through = false;  ///< written in place
};
OutputTarget resolve_output(const std::string& path, DiagnosticEngine& diag);

/// Stages outputs and commits them together: each regular target gets a
/// temporary beside it now; commit() renames them all into place and, if
/// one rename fails, puts back what the earlier ones replaced, so that either
/// every output is new or every one is as it was. Two outputs naming the
/// same file are refused (exit 2). Temporaries of a set never committed are
/// removed; stale ones of killed runs (`.NAME.tmp.PID.*`, `.NAME.bak.PID`
/// whose process is gone) are removed when a later run writes NAME.
class OutputSet {
 public:
  explicit OutputSet(DiagnosticEngine& diag) : diag_(diag) {}
  ~OutputSet();
  OutputSet(const OutputSet&) = delete;
  OutputSet& operator=(const OutputSet&) = delete;

  /// Stages `data` for `path` (written to its temporary now).
  void add(const std::string& path, std::string_view data);
  /// Registers `path` and returns a file for another program (the linker)
  /// to write it to: beside the target, or in $TMPDIR for a target written
  /// through. It gets `mode` (less the umask) when committed.
  std::string stage(const std::string& path, mode_t mode = 0666);
  /// Renames every staged output into place (written-through ones are copied
  /// then). Reports an I/O error (exit 4) naming the output and throws
  /// DiagnosticsAbort on failure, leaving every earlier file as it was.
  void commit();

 private:
  struct Entry {
    std::string name;  // as the user gave it
    OutputTarget target;
    std::string temp;    // staged bytes
    std::string backup;  // the replaced file, until the set is committed
    mode_t mode = 0;     // staged by another program: the mode it gets
    bool committed = false;
  };
  Entry& enter(const std::string& path);
  void roll_back();

  DiagnosticEngine& diag_;
  std::vector<Entry> entries_;
  bool done_ = false;
};

/// Writes `data` to `path` as a one-output OutputSet.
void write_output_file(const std::string& path, std::string_view data, DiagnosticEngine& diag);

/// Writes all of `data` to `fd`, retrying short writes; false with errno set.
bool write_all(int fd, std::string_view data);

}  // namespace cnnc
