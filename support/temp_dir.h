// A private scratch directory, removed with everything in it when the owner
// goes out of scope (also on errors), so no run leaves partial files behind.
#pragma once

#include <string>

namespace cnnc {

class TempDir {
 public:
  /// Creates a fresh directory PREFIX.PID.XXXXXX under $TMPDIR (or /tmp),
  /// first removing those of the same prefix whose process is gone (killed
  /// runs); throws std::runtime_error naming the reason when it cannot.
  explicit TempDir(const std::string& prefix = "cnnc");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  /// Keep the directory (e.g. --keep-temps); it is then the caller's.
  void keep() { keep_ = true; }

 private:
  std::string path_;
  bool keep_ = false;
};

/// Creates `dir` and its parents (like mkdir -p); false with errno set on failure.
bool make_directories(const std::string& dir);

}  // namespace cnnc
