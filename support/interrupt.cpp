#include "support/interrupt.h"

#include <signal.h>

namespace cnnc {

namespace {

volatile sig_atomic_t g_interrupted = 0;
struct sigaction g_old_int, g_old_term, g_old_hup;
int g_depth = 0;

void on_signal(int) { g_interrupted = 1; }

}  // namespace

InterruptScope::InterruptScope() {
  if (g_depth++ > 0) return;
  struct sigaction sa = {};
  sa.sa_handler = on_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &g_old_int);
  sigaction(SIGTERM, &sa, &g_old_term);
  sigaction(SIGHUP, &sa, &g_old_hup);  // a closed terminal: clean up as for Ctrl-C
}

InterruptScope::~InterruptScope() {
  if (--g_depth > 0) return;
  sigaction(SIGINT, &g_old_int, nullptr);
  sigaction(SIGTERM, &g_old_term, nullptr);
  sigaction(SIGHUP, &g_old_hup, nullptr);
}

bool interrupted() { return g_interrupted != 0; }

}  // namespace cnnc
