// Internal invariant failures: bugs in cnnc, never caused by user input.
//
//   CNNC_INTERNAL_ASSERT(w.rank() == 4) << "conv weight of '" << name << "'";
//
// prints "internal error: <condition>: <message> at ir/graph.cpp:212 (please report)"
// and exits with status 70. The message is built only when the check fails.
// A hook lets the pass manager write a reproducer before the process exits.
#pragma once

#include <functional>
#include <sstream>
#include <string>

namespace cnnc {

/// Called (once) before an internal error exits, e.g. to write a reproducer.
void set_internal_error_hook(std::function<void()> hook);

class InternalErrorReporter {
 public:
  InternalErrorReporter(const char* cond, const char* file, int line)
      : cond_(cond), file_(file), line_(line) {}
  [[noreturn]] ~InternalErrorReporter();
  template <class T>
  InternalErrorReporter& operator<<(const T& v) {
    msg_ << v;
    return *this;
  }

 private:
  const char* cond_;
  const char* file_;
  int line_;
  std::ostringstream msg_;
};

namespace detail {
// Lets `CNNC_INTERNAL_ASSERT(c) << ...` be a single expression of type void.
struct Voidify {
  void operator&(InternalErrorReporter&) {}
};
const char* short_path(const char* file);
}  // namespace detail

}  // namespace cnnc

#define CNNC_INTERNAL_ASSERT(cond) \
  (cond) ? (void)0                 \
         : ::cnnc::detail::Voidify() & ::cnnc::InternalErrorReporter(#cond, __FILE__, __LINE__)

#define CNNC_INTERNAL_ERROR() CNNC_INTERNAL_ASSERT(false)
