#include "support/temp_dir.h"

#include <dirent.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <stdexcept>
#include <system_error>
#include <vector>

namespace cnnc {

namespace {

// Removes PREFIX.PID.* directories in `base` whose process is gone: a run
// killed with -9 leaves its work directory (a compile's can hold hundreds of
// MB of weights).
void remove_stale(const std::string& base, const std::string& prefix) {
  DIR* d = ::opendir(base.c_str());
  if (!d) return;
  std::vector<std::string> stale;
  const std::string head = prefix + ".";
  while (const dirent* e = ::readdir(d)) {
    const std::string name = e->d_name;
    if (name.rfind(head, 0) != 0) continue;
    char* end = nullptr;
    const long pid = std::strtol(name.c_str() + head.size(), &end, 10);
    if (pid <= 0 || *end != '.' || pid == ::getpid()) continue;
    if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) stale.push_back(name);
  }
  ::closedir(d);
  for (const std::string& name : stale) {
    std::error_code ec;
    std::filesystem::remove_all(base + "/" + name, ec);
  }
}

}  // namespace

TempDir::TempDir(const std::string& prefix) {
  const char* env = std::getenv("TMPDIR");
  const std::string base = env && *env ? env : "/tmp";
  remove_stale(base, prefix);
  std::string templ = base + "/" + prefix + "." + std::to_string(::getpid()) + ".XXXXXX";
  std::vector<char> buf(templ.begin(), templ.end());
  buf.push_back('\0');
  if (!mkdtemp(buf.data()))
    throw std::runtime_error("cannot create a temporary directory " + templ + ": " +
                             std::strerror(errno));
  path_ = buf.data();
}

TempDir::~TempDir() {
  if (keep_) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);  // best effort: nothing to report from a destructor
}

bool make_directories(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) {
    errno = ec.value();
    return false;
  }
  struct stat st;
  if (stat(dir.c_str(), &st) != 0) return false;
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return false;
  }
  return true;
}

}  // namespace cnnc
