#include "support/internal_error.h"

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "support/diagnostics.h"

namespace cnnc {

namespace {
std::function<void()>& hook_slot() {
  static std::function<void()> hook;
  return hook;
}
}  // namespace

void set_internal_error_hook(std::function<void()> hook) { hook_slot() = std::move(hook); }

namespace detail {
const char* short_path(const char* file) {
  // Print paths relative to the source tree: "ir/graph.cpp", not the build machine's.
  for (const char* dir : {"/support/", "/ir/", "/frontend/", "/passes/", "/backends/", "/runtime/",
                          "/tools/", "/test/"}) {
    if (const char* p = std::strstr(file, dir)) return p + 1;
  }
  return file;
}
}  // namespace detail

InternalErrorReporter::~InternalErrorReporter() {
  std::string msg = msg_.str();
  std::fprintf(stderr, "internal error: %s%s%s at %s:%d (please report)\n", cond_,
               msg.empty() ? "" : ": ", msg.c_str(), detail::short_path(file_), line_);
  std::fflush(stderr);
  auto hook = std::move(hook_slot());
  if (hook) hook();
  std::_Exit(static_cast<int>(ExitCode::Internal));
}

}  // namespace cnnc
