#include "support/contained_path.h"

#include <sys/stat.h>

#include <cstdlib>

namespace cnnc {

namespace {

// True if `p` is absolute or its ".." components climb above its start.
bool escapes_lexically(const std::string& p) {
  if (p.empty() || p[0] == '/') return true;
  int depth = 0;
  size_t start = 0;
  while (start <= p.size()) {
    size_t end = p.find('/', start);
    std::string part = p.substr(start, end == std::string::npos ? std::string::npos : end - start);
    if (part == "..") {
      if (--depth < 0) return true;
    } else if (!part.empty() && part != ".") {
      ++depth;
    }
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return false;
}

std::string real_path(const std::string& p) {
  char* r = ::realpath(p.c_str(), nullptr);
  std::string s = r ? r : "";
  std::free(r);
  return s;
}

}  // namespace

ContainedPath contain_path(const std::string& dir, const std::string& rel, bool allow_outside) {
  ContainedPath out;
  out.full = !rel.empty() && rel[0] == '/' ? rel : dir + "/" + rel;
  if (!allow_outside && escapes_lexically(rel)) {
    out.problem = PathProblem::Escapes;
    return out;
  }
  struct stat st {};
  if (::stat(out.full.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
    out.problem = PathProblem::NotFound;
    return out;
  }
  if (!allow_outside) {
    // The name stays inside; a symbolic link on the way must not lead out.
    out.real = real_path(out.full);
    std::string d = real_path(dir);
    if (out.real.empty() || d.empty() || out.real.compare(0, d.size() + 1, d + "/") != 0)
      out.problem = PathProblem::LeadsOutside;
  }
  return out;
}

}  // namespace cnnc
