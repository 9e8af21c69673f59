#include "tools/cnnc/tuning_table.h"

#include <cstdarg>
#include <cstdio>

namespace cnnc::tool {

namespace {

void append(std::string& s, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
void append(std::string& s, const char* fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  s += buf;
}

}  // namespace

std::string tuning_table(const std::vector<TuningRow>& rows, double peak) {
  std::string out;
  append(out, "%-28s %-16s %5s %11s %11s %8s %8s %7s  %s\n", "kernel (layers)", "template", "calls",
         "default ms", "tuned ms", "speed-up", "GFLOP/s", "% peak", "schedule");
  double def_total = 0, tuned_total = 0;
  int64_t flops = 0;
  for (const TuningRow& r : rows) {
    std::string name = r.layers.size() > 28 ? r.layers.substr(0, 25) + "..." : r.layers;
    const double gflops =
        r.tuned_ms > 0 ? static_cast<double>(r.flops) / r.calls / (r.tuned_ms * 1e6) : 0;
    append(out, "%-28s %-16s %5d %11.4f %11.4f %7.2fx %8.1f", name.c_str(), r.family.c_str(),
           r.calls, r.default_ms, r.tuned_ms, r.tuned_ms > 0 ? r.default_ms / r.tuned_ms : 0.0,
           gflops);
    if (peak > 0 && r.flops > 0)
      append(out, " %6.1f%%", 100 * gflops / peak);
    else
      append(out, " %7s", "");
    append(out, "  %s\n", r.schedule.c_str());
    def_total += r.default_ms * r.calls;
    tuned_total += (r.tuned_ms > 0 ? r.tuned_ms : r.default_ms) * r.calls;
    flops += r.flops;
  }
  append(out, "%-28s %-16s %5s %11.3f %11.3f %7.2fx %8.1f\n", "total (all calls)", "", "",
         def_total, tuned_total, tuned_total > 0 ? def_total / tuned_total : 0.0,
         tuned_total > 0 ? static_cast<double>(flops) / (tuned_total * 1e6) : 0.0);
  return out;
}

}  // namespace cnnc::tool
