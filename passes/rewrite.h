// Small helpers shared by rewriting passes.
#pragma once

#include "ir/graph.h"

namespace cnnc::passes {

bool is_graph_output(const ir::Graph& g, const ir::Value* v);

/// Makes every use of `from` (the result of a layer being folded away) use
/// `to` instead, the result of `keeper`. When `from` is a network output, `to`
/// takes its name, so outputs keep their names; `keeper` then lists its old
/// name among what it contains. Precondition: `to` is keeper's result and not
/// itself a network output.
void replace_result(ir::Graph& g, ir::Value* from, ir::Value* to, ir::Node* keeper);

}  // namespace cnnc::passes
