// The numeric change each batch_norm fold caused: bn(conv(x)) with the
// original weights against conv'(x) with the folded ones, on a random probe
// input small enough to be cheap (a few output rows and columns).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "ir/graph.h"
#include "passes/pass.h"

namespace cnnc::tool {

/// batch_norm layer name -> largest |difference| on the probe. Empty when the
/// graphs have no weights.
std::map<std::string, double> probe_batch_norm_folds(const ir::Graph& before,
                                                     const ir::Graph& after,
                                                     const passes::PassContext& ctx, uint64_t seed);

}  // namespace cnnc::tool
