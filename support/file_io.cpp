#include "support/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "support/output_files.h"

namespace cnnc {

namespace {

std::string errno_text(int e) { return std::strerror(e); }

// Closes a file descriptor on scope exit.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

}  // namespace

bool disk_full(const std::string& path) {
  struct statvfs fs {};
  std::string p = path;
  // The nearest existing directory (a file not yet written, a removed work dir).
  while (::statvfs(p.c_str(), &fs) != 0) {
    const auto slash = p.rfind('/');
    if (slash == std::string::npos || slash == 0) {
      if (::statvfs(slash == 0 ? "/" : ".", &fs) != 0) return false;
      break;
    }
    p.resize(slash);
  }
  return static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize < (uint64_t{1} << 20);
}

std::string format_bytes(int64_t bytes) {
  static const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"};
  double v = static_cast<double>(bytes);
  int u = 0;
  while (v >= 1024.0 && u < 6) {
    v /= 1024.0;
    ++u;
  }
  char buf[64];
  if (u == 0)
    std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(bytes));
  else
    std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

std::string read_input_file(const std::string& path, int64_t max_size, std::string_view limit_flag,
                            DiagnosticEngine& diag) {
  SourceLoc loc = make_file_loc(path);
  // O_NONBLOCK so that opening a FIFO never blocks; we refuse non-regular files below.
  Fd f{::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK)};
  if (f.fd < 0) diag.fatal(loc, "cannot open: " + errno_text(errno), {}, ExitCode::IoError);
  struct stat st {};
  if (::fstat(f.fd, &st) != 0)
    diag.fatal(loc, "cannot stat: " + errno_text(errno), {}, ExitCode::IoError);
  if (S_ISDIR(st.st_mode)) diag.fatal(loc, "is a directory, not a file", {}, ExitCode::IoError);
  if (!S_ISREG(st.st_mode)) diag.fatal(loc, "not a regular file", {}, ExitCode::IoError);
  if (st.st_size > max_size) {
    diag.fatal(loc,
               "file is " + format_bytes(st.st_size) + ", larger than the " +
                   format_bytes(max_size) + " limit (" + std::string(limit_flag) + ")",
               {}, ExitCode::ResourceLimit);
  }
  std::string data(static_cast<size_t>(st.st_size), '\0');
  size_t got = 0;
  while (got < data.size()) {
    ssize_t n = ::read(f.fd, data.data() + got, data.size() - got);
    if (n < 0) {
      if (errno == EINTR || errno == EAGAIN) continue;
      diag.fatal(loc, "read failed: " + errno_text(errno), {}, ExitCode::IoError);
    }
    if (n == 0) break;  // the file shrank while we read it
    got += static_cast<size_t>(n);
  }
  data.resize(got);
  return data;
}

void write_output_file_atomically(const std::string& path, std::string_view data,
                                  DiagnosticEngine& diag) {
  write_output_file(path, data, diag);
}

}  // namespace cnnc
