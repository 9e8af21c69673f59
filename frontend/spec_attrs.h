// Reading a layer's attributes from its JSON object into the op's typed
// attribute struct, through the struct's field list (ir/attrs.h).
#pragma once

#include <optional>
#include <string>
#include <unordered_map>

#include "frontend/spec_context.h"
#include "ir/attrs.h"

namespace cnnc::frontend {

struct LayerAttrs {
  ir::Attrs attrs;
  std::unordered_map<std::string, SourceLoc> locs;  ///< where each given attribute is written
  bool pad_same = false;  ///< "pad": "same", resolved once shapes are known
};

/// Keys a layer object may carry besides its op's attributes.
bool is_layer_key(std::string_view key);

/// Reads every attribute of `op` from `layer` (resolving `$params` in `env`),
/// applies derived defaults and checks ranges. Unknown keys, wrong JSON types,
/// missing required attributes and out-of-range values are reported with the
/// position of the offending key or value. nullopt if any error was reported.
std::optional<LayerAttrs> read_layer_attrs(SpecContext& c, ir::OpKind op, const json::Value& layer,
                                           const EnvPtr& env, const Frame& frame,
                                           const std::string& layer_name);

/// SAME_UPPER padding (ONNX): out = ceil(in / stride), total padding
/// max((out - 1)·stride + dilation·(kernel - 1) + 1 - in, 0), the odd pixel at
/// the bottom/right.
ir::Pad4 same_upper_pad(int64_t in_h, int64_t in_w, ir::Hw kernel, ir::Hw stride, ir::Hw dilation);

}  // namespace cnnc::frontend
