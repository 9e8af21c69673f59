#include "support/file_io.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

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
  SourceLoc loc = make_file_loc(path);
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode))
    diag.fatal(loc, "cannot write: is a directory", {}, ExitCode::IoError);
  std::string dir = ".", base = path;
  if (auto slash = path.rfind('/'); slash != std::string::npos) {
    dir = slash == 0 ? "/" : path.substr(0, slash);
    base = path.substr(slash + 1);
  }
  std::string tmpl = dir + "/." + base + ".tmp.XXXXXX";
  std::vector<char> tmp(tmpl.begin(), tmpl.end());
  tmp.push_back('\0');
  int fd = ::mkstemp(tmp.data());
  if (fd < 0) diag.fatal(loc, "cannot write: " + errno_text(errno), {}, ExitCode::IoError);
  std::string tmp_path(tmp.data());
  auto fail = [&](const std::string& what, int e) {
    ::close(fd);
    ::unlink(tmp_path.c_str());
    diag.fatal(loc, what + ": " + errno_text(e), {}, ExitCode::IoError);
  };
  // Faults for tests: CNNC_WRITE_FAULT=enospc:TEXT or eio_fsync:TEXT fails the
  // write or the fsync of any output whose path contains TEXT.
  std::string fault;
  if (const char* f = std::getenv("CNNC_WRITE_FAULT")) {
    std::string_view v(f);
    if (auto colon = v.find(':');
        colon != std::string_view::npos && path.find(v.substr(colon + 1)) != std::string::npos)
      fault = std::string(v.substr(0, colon));
  }
  if (fault == "enospc") fail("write failed", ENOSPC);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("write failed", errno);
    }
    done += static_cast<size_t>(n);
  }
  // Written files get the usual permissions (mkstemp creates 0600).
  mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(fd, 0666 & ~mask) != 0) fail("chmod failed", errno);
  if (fault == "eio_fsync" || ::fsync(fd) != 0) fail("fsync failed", fault.empty() ? errno : EIO);
  if (::close(fd) != 0) {
    int e = errno;
    ::unlink(tmp_path.c_str());
    diag.fatal(loc, "close failed: " + errno_text(e), {}, ExitCode::IoError);
  }
  if (::rename(tmp_path.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp_path.c_str());
    diag.fatal(loc, "cannot write: " + errno_text(e), {}, ExitCode::IoError);
  }
}

}  // namespace cnnc
