// The textual IR (.cnnir). `parse_ir` (parser.h) reads it back to the same graph:
// printing a parsed graph gives byte-identical text.
//
//   graph "lenet5" {
//     input %data: f32[1,1,28,28]
//     param @conv1.weight: f32[6,1,5,5]
//     %conv1 = conv2d(%data, @conv1.weight, @conv1.bias) {filters=6, kernel=[5,5], ...}:
//     f32[1,6,28,28] %relu1 = relu(%conv1): f32[1,6,28,28] output %prob
//   }
//
// Parameters are declared just before their first use. Attributes are all
// printed (defaults included) except IR-only ones at their default; fused
// epilogues print as `epilogue=residual+relu`, `epilogue=clip(0,6)`.
// A memory-planned value prints its arena offset: `: f32[...] in arena[4096]`,
// and the graph its arena size: `arena 802816`.
#pragma once

#include <ostream>
#include <string>

#include "ir/graph.h"

namespace cnnc::ir {

void print_graph(const Graph& g, std::ostream& out);
std::string print_graph(const Graph& g);

/// `{filters=6, kernel=[5,5], ...}` or "" for ops without attributes.
std::string print_attrs(const Attrs& a);
/// "residual+relu", "clip(0,6)", "" for an empty epilogue.
std::string print_epilogue(const Epilogue& e);

/// True if `s` can be printed as a bare %/@ name; other names are quoted.
bool is_bare_name(const std::string& s);
/// `%name`, `%"odd name"`, `@conv1.weight`
std::string value_ref(const Value& v);

}  // namespace cnnc::ir
