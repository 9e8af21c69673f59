// The per-kernel table of a tuning result, printed by `cnnc tune` at the end
// and by `cnnc report --tuning-db`.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace cnnc::tool {

struct TuningRow {
  std::string layers;  ///< "conv2 (+5)"
  std::string family;  ///< the template
  int calls = 0;
  int64_t flops = 0;                    ///< all calls together
  double default_ms = 0, tuned_ms = 0;  ///< one call; 0: not measured
  std::string schedule;                 ///< the chosen schedule's key, or a status
};

/// Rows, then the totals over all calls; "% peak" divides by `peak_gflops`
/// (0: no such column).
std::string tuning_table(const std::vector<TuningRow>& rows, double peak_gflops);

/// How far the default schedules are from the peak, the figures issue 10's
/// "tuned, or already near the peak" asks for: how many convolution kernels
/// run within 10 % of `peak_gflops` at their default (Winograd ones at the
/// rate a direct kernel would need), the lowest, and the most any schedule
/// could gain: every convolution and linear kernel at the peak (Winograd at
/// a quarter of the direct FLOPs), the other kernels as measured. Empty
/// without a peak.
std::string tuning_headroom(const std::vector<TuningRow>& rows, double peak_gflops);

}  // namespace cnnc::tool
