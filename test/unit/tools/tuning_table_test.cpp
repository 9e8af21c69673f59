// cnnc tune's closing figures: how near the defaults are to the peak, and the
// most any schedule could gain.
#include "tools/cnnc/tuning_table.h"

#include <gtest/gtest.h>

namespace cnnc::tool {
namespace {

TuningRow row(const char* layers, const char* family, int calls, double flops, double ms) {
  TuningRow r;
  r.layers = layers;
  r.family = family;
  r.calls = calls;
  r.flops = static_cast<int64_t>(flops);
  r.default_ms = r.tuned_ms = ms;
  return r;
}

// Peak 100 GFLOP/s: a direct conv at 90 % is near it, one at 50 % is not; a
// Winograd conv counts its direct FLOPs (200 %) but could at best run a
// quarter of them at the peak; a pool stays as measured.
TEST(TuningHeadroom, CountsConvsNearThePeakAndBoundsTheGain) {
  const std::vector<TuningRow> rows = {
      row("a", "conv_blocked", 1, 1e9, 1e9 / 90e9 * 1e3),  // 11.11 ms, bound 10
      row("b (+1)", "conv_blocked", 2, 2e9, 20),           // 50 %, bound 2 x 10
      row("c", "conv_winograd", 1, 4e9, 20),               // 200 %, bound 10
      row("d", "global_avg_pool", 1, 1e6, 1)};             // bound 1
  EXPECT_EQ(tuning_headroom(rows, 100),
            "defaults: 2 of 3 convolution kernels within 10% of the peak; lowest 50.0% (b (+1))\n"
            "headroom: every convolution and linear kernel at the peak would take 41.000 of the "
            "defaults' 72.111 ms: schedules can gain at most 1.76x\n");
  EXPECT_EQ(tuning_headroom({rows[0], rows[2], rows[3]}, 100).substr(0, 70),
            "defaults: 2 of 2 convolution kernels within 10% of the peak (every one");
  EXPECT_EQ(tuning_headroom(rows, 0), "");  // no peak measured: no claims
}

}  // namespace
}  // namespace cnnc::tool
