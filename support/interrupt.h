// SIGINT / SIGTERM / SIGHUP during long work (compiling kernels, linking): while an
// InterruptScope lives, the signals set a flag instead of killing the
// process, so the work stops at the next check, temporaries are removed and
// the driver exits with status 130 leaving no partial output.
#pragma once

namespace cnnc {

class InterruptScope {
 public:
  InterruptScope();   ///< installs the handlers (without SA_RESTART: blocking calls return EINTR)
  ~InterruptScope();  ///< restores the previous ones
  InterruptScope(const InterruptScope&) = delete;
  InterruptScope& operator=(const InterruptScope&) = delete;
};

/// Whether SIGINT, SIGTERM or SIGHUP arrived inside an InterruptScope.
bool interrupted();

}  // namespace cnnc
