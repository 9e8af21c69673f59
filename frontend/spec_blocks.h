// Blocks: user-defined layer types in a spec, so that ResNet stages and
// DenseNet blocks are written once and instantiated many times.
//
//   "blocks": {
//     "basic": {
//       "params": { "filters": null, "stride": 1, "project": false },  // null: required
//       "inputs": ["x"],                                              // default ["x"]
//       "layers": [ ... layers; "$filters" substitutes a parameter ... ],
//       "output": "relu2"                                             // default: last layer
//     }
//   }
//   { "name": "layer2", "type": "basic", "filters": 128, "repeat": 2,
//     "first": { "stride": 2, "project": true } }
//
// An instance named N expands its layers as "N.<layer>"; with "repeat": R the
// instances are "N.0" ... "N.R-1", chained, and "first" overrides arguments of
// instance 0. A layer with "if": false is skipped and its name refers to its
// (first) input. Blocks may use other blocks, never themselves.
#pragma once

#include <optional>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "frontend/spec_context.h"

namespace cnnc::frontend {

struct BlockDef {
  std::string name;
  const json::Value* def = nullptr;
  json::Pos pos;  ///< of the block's name (its key in "blocks")
  /// Parameters in declaration order with their defaults (null = required).
  std::vector<std::pair<std::string, const json::Value*>> params;
  std::vector<std::string> inputs;      ///< local names bound to the instance's inputs
  const json::Value* layers = nullptr;  ///< array
  const json::Value* output = nullptr;  ///< string naming the output layer, or null
  int64_t expanded = -1;                ///< layers one instance expands to (saturating)
  int depth = 0;                        ///< levels of block nesting, itself included
  bool in_progress = false;             ///< on the counting stack (recursion check)
};

/// Keys a block instance may carry besides its block's parameters.
bool is_instance_key(std::string_view key);

class BlockTable {
 public:
  /// Reads the "blocks" object (may be null). Reports malformed definitions.
  void load(SpecContext& c, const json::Value* blocks);

  const BlockDef* find(std::string_view name) const;
  std::vector<std::string> names() const;

  /// Number of layers `layers` (an array of layer objects) expands to, counted
  /// without expanding (saturating at INT64_MAX). Reports a block that expands
  /// itself, or nesting deeper than the limit, and returns nullopt.
  std::optional<int64_t> count_layers(SpecContext& c, const json::Value& layers);

 private:
  std::optional<int64_t> count(SpecContext& c, const json::Value& layers,
                               std::vector<BlockDef*>& stack, int& depth);

  std::vector<BlockDef> defs_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace cnnc::frontend
