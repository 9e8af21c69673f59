// Small helpers shared by rewriting passes.
#pragma once

#include <functional>

#include "ir/graph.h"

namespace cnnc::passes {

bool is_graph_output(const ir::Graph& g, const ir::Value* v);

/// Calls rewrite(node) for every node that `match` selects, in graph order.
/// The nodes are chosen first, so rewrites may erase them. Returns true if
/// any rewrite did.
bool rewrite_each(ir::Graph& g, const std::function<bool(const ir::Node&)>& match,
                  const std::function<bool(ir::Node&)>& rewrite);

/// Makes every use of `from` (the result of a layer being folded away) use
/// `to` instead, the result of `keeper`. When `from` is a network output, `to`
/// takes its name, so outputs keep their names; `keeper` then lists its old
/// name among what it contains. Preconditions: `to` is keeper's result, and
/// not itself a network output when `from` is one.
void replace_result(ir::Graph& g, ir::Value* from, ir::Value* to, ir::Node* keeper);

}  // namespace cnnc::passes
