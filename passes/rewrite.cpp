#include "passes/rewrite.h"

#include <algorithm>

#include "support/internal_error.h"

namespace cnnc::passes {

bool is_graph_output(const ir::Graph& g, const ir::Value* v) {
  return std::find(g.outputs().begin(), g.outputs().end(), v) != g.outputs().end();
}

bool rewrite_each(ir::Graph& g, const std::function<bool(const ir::Node&)>& match,
                  const std::function<bool(ir::Node&)>& rewrite) {
  std::vector<ir::Node*> chosen;
  for (const auto& n : g.nodes())
    if (match(*n)) chosen.push_back(n.get());
  bool changed = false;
  for (ir::Node* n : chosen) changed |= rewrite(*n);
  return changed;
}

void replace_result(ir::Graph& g, ir::Value* from, ir::Value* to, ir::Node* keeper) {
  CNNC_INTERNAL_ASSERT(to->producer == keeper)
      << "replace_result: '" << to->name << "' must be the keeper's result";
  if (is_graph_output(g, from) && from->name != to->name) {
    // Both names are network outputs: neither can take the other's.
    CNNC_INTERNAL_ASSERT(!is_graph_output(g, to))
        << "replace_result: '" << to->name << "' would take the name of network output '"
        << from->name << "' but is a network output itself";
    keeper->fused.insert(keeper->fused.begin(), to->name);
    to->name = from->name;
  }
  g.replace_all_uses(from, to);
}

}  // namespace cnnc::passes
