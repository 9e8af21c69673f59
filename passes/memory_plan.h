// Memory planning: every op result lives at an offset in one arena.
//
// Results that may share storage are grouped first, in node order:
//   - flatten is a view: its result is its input's storage;
//   - an elementwise op (activation, dropout, batch_norm, add) works in place
//     when its input dies there and nothing else in the input's storage is
//     still needed;
//   - concat is built in place: each input is produced straight into its slice
//     of the result, when the input is not a network input or output and the
//     slice is contiguous (every dim before the axis is 1) or, in inference
//     graphs, a channel slice at batch > 1: each image of the input is
//     contiguous and the images lie one image of the result apart
//     (Value::arena_batch_stride). An input that is itself a concatenation
//     built in place moves into the result with all its slices, so a chain of
//     concatenations (DenseNet's blocks) shares one buffer and copies nothing.
//     Values read by a softmax along a dim after the channels stay dense.
// Each group is one buffer, alive from its first definition to its last use.
// Buffers are placed one at a time, each at the best-fitting gap among the
// buffers alive at the same time, 64-byte aligned; three orders are tried
// (largest first as TFLite's greedy-by-size, longest-lived first, execution
// order) and the smallest arena is kept.
#pragma once

#include <cstdint>

#include "ir/graph.h"

namespace cnnc::passes {

inline constexpr int64_t kArenaAlignment = 64;

struct MemoryStats {
  int64_t naive_bytes = 0;        ///< every op result its own buffer
  int64_t planned_bytes = 0;      ///< the arena (0 before planning)
  int64_t lower_bound_bytes = 0;  ///< most bytes of buffers alive at one step of the node order
  int64_t buffers = 0;            ///< storage groups after views, in-place ops and concat slices
  int64_t views = 0, in_place = 0, concat_slices = 0;
};

/// Plans `g` (sets Value::arena_offset for every op result, and
/// Graph::arena_bytes) and returns the figures.
MemoryStats plan_memory(ir::Graph& g);

/// The figures of `g` as it is (planned_bytes from its plan, if any).
MemoryStats memory_stats(const ir::Graph& g);

}  // namespace cnnc::passes
