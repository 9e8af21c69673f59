#include "support/output_files.h"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "support/interrupt.h"

namespace cnnc {

namespace {

std::string errno_text(int e) { return std::strerror(e); }

std::string dir_of(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

std::string base_of(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

bool under(const std::string& path, const char* prefix) { return path.rfind(prefix, 0) == 0; }

// Faults for tests: CNNC_WRITE_FAULT=KIND:TEXT fails the step KIND (enospc:
// the write, eio_fsync: the fsync, rename: the rename into place) of any
// output whose path contains TEXT.
std::string fault_for(const std::string& path) {
  const char* f = std::getenv("CNNC_WRITE_FAULT");
  if (!f) return "";
  std::string_view v(f);
  const auto colon = v.find(':');
  if (colon == std::string_view::npos || path.find(v.substr(colon + 1)) == std::string::npos)
    return "";
  return std::string(v.substr(0, colon));
}

// Removes `.BASE.tmp.PID.*` and `.BASE.bak.PID` files in `dir` left by
// processes that no longer exist (a run killed with -9 cannot clean up).
void remove_stale(const std::string& dir, const std::string& base) {
  DIR* d = ::opendir(dir.c_str());
  if (!d) return;
  const std::string tmp = "." + base + ".tmp.", bak = "." + base + ".bak.";
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    const std::string* prefix = name.rfind(tmp, 0) == 0   ? &tmp
                                : name.rfind(bak, 0) == 0 ? &bak
                                                          : nullptr;
    if (!prefix) continue;
    const long pid = std::strtol(name.c_str() + prefix->size(), nullptr, 10);
    if (pid <= 0 || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
      ::unlink((dir + "/" + name).c_str());
  }
  ::closedir(d);
}

// A new temporary file beside `target` (or in $TMPDIR), created 0600.
std::string make_temp(const std::string& target, bool beside, int& fd) {
  const char* tmpdir = std::getenv("TMPDIR");
  const std::string dir = beside ? dir_of(target) : (tmpdir && *tmpdir ? tmpdir : "/tmp");
  std::string tmpl =
      dir + "/." + base_of(target) + ".tmp." + std::to_string(::getpid()) + ".XXXXXX";
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  fd = ::mkstemp(buf.data());
  return fd < 0 ? "" : std::string(buf.data());
}

}  // namespace

bool write_all(int fd, std::string_view data) {
  size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return true;
}

OutputTarget resolve_output(const std::string& path, DiagnosticEngine& diag) {
  const SourceLoc loc = make_file_loc(path);
  std::string p = path;
  for (int hops = 0;; ++hops) {
    // Devices and /proc/self/fd/N: whatever they are, they are written in place.
    if (under(p, "/dev/") || under(p, "/proc/")) return {p, true};
    struct stat st {};
    if (::lstat(p.c_str(), &st) != 0) {
      if (errno == ENOENT) return {p, false};
      diag.fatal(loc, "cannot write: " + errno_text(errno), {}, ExitCode::IoError);
    }
    if (S_ISLNK(st.st_mode)) {
      if (hops == 40)
        diag.fatal(loc, "cannot write: too many symbolic links", {}, ExitCode::IoError);
      std::vector<char> buf(static_cast<size_t>(st.st_size > 0 ? st.st_size : 4096) + 1);
      const ssize_t n = ::readlink(p.c_str(), buf.data(), buf.size() - 1);
      if (n < 0)
        diag.fatal(loc, "cannot read the link: " + errno_text(errno), {}, ExitCode::IoError);
      const std::string to(buf.data(), static_cast<size_t>(n));
      p = !to.empty() && to[0] == '/' ? to : dir_of(p) + "/" + to;
      continue;
    }
    if (S_ISREG(st.st_mode)) return {p, false};
    if (S_ISCHR(st.st_mode) || S_ISFIFO(st.st_mode) || S_ISSOCK(st.st_mode)) return {p, true};
    diag.fatal(loc,
               S_ISDIR(st.st_mode) ? "cannot write: is a directory"
                                   : "cannot write: not a regular file, device or FIFO",
               {}, ExitCode::IoError);
  }
}

OutputSet::~OutputSet() {
  if (done_) return;
  roll_back();
  for (const Entry& e : entries_)
    if (!e.temp.empty()) ::unlink(e.temp.c_str());
}

OutputSet::Entry& OutputSet::enter(const std::string& path) {
  Entry e;
  e.name = path;
  e.target = resolve_output(path, diag_);
  struct stat st {
  }, other{};
  const bool exists = ::stat(e.target.path.c_str(), &st) == 0;
  for (const Entry& o : entries_) {
    const bool same =
        o.target.path == e.target.path || (exists && ::stat(o.target.path.c_str(), &other) == 0 &&
                                           st.st_dev == other.st_dev && st.st_ino == other.st_ino);
    if (same)
      diag_.fatal(make_file_loc(path),
                  "two outputs of this command are the same file ('" + o.name + "' and '" + path +
                      "'): one would overwrite the other",
                  {}, ExitCode::Usage);
  }
  if (!e.target.through) remove_stale(dir_of(e.target.path), base_of(e.target.path));
  entries_.push_back(std::move(e));
  return entries_.back();
}

std::string OutputSet::stage(const std::string& path, mode_t mode) {
  Entry& e = enter(path);
  e.mode = mode;
  int fd = -1;
  e.temp = make_temp(e.target.path, !e.target.through, fd);
  if (fd < 0)
    diag_.fatal(make_file_loc(path), "cannot write: " + errno_text(errno), {}, ExitCode::IoError);
  ::close(fd);
  return e.temp;
}

void OutputSet::add(const std::string& path, std::string_view data) {
  Entry& e = enter(path);
  const SourceLoc loc = make_file_loc(path);
  int fd = -1;
  e.temp = make_temp(e.target.path, !e.target.through, fd);
  if (fd < 0) diag_.fatal(loc, "cannot write: " + errno_text(errno), {}, ExitCode::IoError);
  auto fail = [&](const std::string& what, int err) {
    ::close(fd);
    diag_.fatal(loc, what + ": " + errno_text(err), {}, ExitCode::IoError);  // ~OutputSet cleans up
  };
  const std::string fault = fault_for(e.target.path);
  if (fault == "enospc") fail("write failed", ENOSPC);
  if (!write_all(fd, data)) fail("write failed", errno);
  // Written files get the usual permissions (mkstemp creates 0600).
  const mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(fd, 0666 & ~mask) != 0) fail("chmod failed", errno);
  if (fault == "eio_fsync" || ::fsync(fd) != 0) fail("fsync failed", fault.empty() ? errno : EIO);
  if (::close(fd) != 0)
    diag_.fatal(loc, "close failed: " + errno_text(errno), {}, ExitCode::IoError);
}

void OutputSet::roll_back() {
  for (auto it = entries_.rbegin(); it != entries_.rend(); ++it) {
    if (!it->committed) continue;
    if (!it->backup.empty())
      ::rename(it->backup.c_str(), it->target.path.c_str());
    else
      ::unlink(it->target.path.c_str());
    it->committed = false;
  }
}

void OutputSet::commit() {
  if (interrupted()) diag_.fatal({}, "interrupted: nothing was written", {}, ExitCode::Interrupted);
  auto fail = [&](const Entry& e, const std::string& what, int err) {
    roll_back();
    diag_.fatal(make_file_loc(e.name),
                what + ": " + errno_text(err) +
                    (entries_.size() > 1 ? " (no output of this command was "
                                           "changed)"
                                         : ""),
                {}, ExitCode::IoError);
  };
  // Regular files first, each old one kept (a second link) until all are in.
  for (Entry& e : entries_) {
    if (e.target.through) continue;
    const std::string& target = e.target.path;
    if (e.mode) {  // the linker's file: its permissions are ours to set
      const mode_t mask = ::umask(0);
      ::umask(mask);
      if (::chmod(e.temp.c_str(), e.mode & ~mask) != 0) fail(e, "chmod failed", errno);
    }
    if (::access(target.c_str(), F_OK) == 0) {
      e.backup = dir_of(target) + "/." + base_of(target) + ".bak." + std::to_string(::getpid());
      ::unlink(e.backup.c_str());
      if (::link(target.c_str(), e.backup.c_str()) != 0 &&
          ::rename(target.c_str(), e.backup.c_str()) != 0) {
        const int err = errno;
        e.backup.clear();
        fail(e, "cannot replace it", err);
      }
    }

    // This entry's rename failing: its old file is back in place (moved
    // back, or its second link dropped) before the earlier ones are undone.
    auto undo_backup = [&] {
      if (e.backup.empty()) return;
      if (::access(target.c_str(), F_OK) != 0)
        ::rename(e.backup.c_str(), target.c_str());
      else
        ::unlink(e.backup.c_str());
      e.backup.clear();
    };
    if (fault_for(target) == "rename") {
      undo_backup();
      fail(e, "cannot write", EIO);
    }
    if (::rename(e.temp.c_str(), target.c_str()) != 0) {
      const int err = errno;
      undo_backup();
      fail(e, "cannot write", err);
    }
    e.temp.clear();
    e.committed = true;
  }
  // Devices and FIFOs: copied through (a FIFO nobody reads is an error, not a hang).
  for (Entry& e : entries_) {
    if (!e.target.through) continue;
    const int in = ::open(e.temp.c_str(), O_RDONLY | O_CLOEXEC);
    const int out = ::open(e.target.path.c_str(), O_WRONLY | O_NONBLOCK | O_CLOEXEC);
    if (in < 0 || out < 0) {
      const int err = errno;
      if (in >= 0) ::close(in);
      if (out >= 0) ::close(out);
      fail(e, err == ENXIO ? "cannot write: no process reads this FIFO" : "cannot write", err);
    }
    ::fcntl(out, F_SETFL, ::fcntl(out, F_GETFL) & ~O_NONBLOCK);
    std::vector<char> buf(1 << 20);
    bool ok = true;
    int err = 0;
    for (ssize_t n; ok && (n = ::read(in, buf.data(), buf.size())) != 0;) {
      if (n < 0) {
        if (errno == EINTR) continue;
        ok = false;
        err = errno;
      } else if (!write_all(out, std::string_view(buf.data(), static_cast<size_t>(n)))) {
        ok = false;
        err = errno;
      }
    }
    ::close(in);
    if (::close(out) != 0 && ok) {
      ok = false;
      err = errno;
    }
    if (!ok) fail(e, "write failed", err);
    ::unlink(e.temp.c_str());
    e.temp.clear();
  }
  for (Entry& e : entries_)
    if (!e.backup.empty()) ::unlink(e.backup.c_str());
  // The renames themselves reach the disk too.
  for (const Entry& e : entries_) {
    if (e.target.through) continue;
    const int dir = ::open(dir_of(e.target.path).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir >= 0) {
      ::fsync(dir);
      ::close(dir);
    }
  }
  done_ = true;
}

void write_output_file(const std::string& path, std::string_view data, DiagnosticEngine& diag) {
  OutputSet out(diag);
  out.add(path, data);
  out.commit();
}

}  // namespace cnnc
