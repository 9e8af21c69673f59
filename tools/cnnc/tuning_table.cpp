#include "tools/cnnc/tuning_table.h"

#include <algorithm>
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

std::string tuning_headroom(const std::vector<TuningRow>& rows, double peak) {
  if (peak <= 0) return {};
  int convs = 0, near = 0;
  double lowest = 0, def_total = 0, bound_total = 0;
  std::string lowest_name;
  for (const TuningRow& r : rows) {
    if (r.default_ms <= 0 || r.calls <= 0) continue;
    const double per_call = static_cast<double>(r.flops) / r.calls;
    const double rate = per_call / (r.default_ms * 1e6);  // GFLOP/s
    const bool conv = r.family.rfind("conv", 0) == 0, winograd = r.family == "conv_winograd";
    const bool compute = conv || r.family.rfind("linear", 0) == 0;
    double at_peak = r.default_ms;
    if (compute && r.flops > 0)
      at_peak = std::min(at_peak, per_call * (winograd ? 0.25 : 1.0) / (peak * 1e6));
    def_total += r.default_ms * r.calls;
    bound_total += at_peak * r.calls;
    if (!conv || r.flops <= 0) continue;
    ++convs;
    const double pct = 100 * rate / peak;
    if (pct >= 90) ++near;
    if (lowest_name.empty() || pct < lowest) lowest = pct, lowest_name = r.layers;
  }
  std::string out;
  if (convs)
    append(out,
           "defaults: %d of %d convolution kernels within 10%% of the peak%s; lowest %.1f%% "
           "(%s)\n",
           near, convs, near == convs ? " (every one)" : "", lowest, lowest_name.c_str());
  if (bound_total > 0)
    append(out,
           "headroom: every convolution and linear kernel at the peak would take %.3f of the "
           "defaults' %.3f ms: schedules can gain at most %.2fx\n",
           bound_total, def_total, def_total / bound_total);
  return out;
}

}  // namespace cnnc::tool
