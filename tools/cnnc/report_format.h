// Rendering of `cnnc report`: an aligned table for people, and JSON, CSV and
// Markdown for tools and documents. The JSON form is documented in the README.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "ir/analysis.h"
#include "ir/graph.h"
#include "passes/memory_plan.h"
#include "passes/pass.h"

namespace cnnc::tool {

/// What the report shows after optimisation.
struct OptimizedView {
  const ir::Graph* graph = nullptr;  ///< null: the report has no optimised sections
  const passes::PassContext* ctx = nullptr;
  std::vector<std::string> pipeline;
  passes::MemoryStats memory;
  std::map<std::string, double> probes;  ///< batch_norm -> max change of its fold
  bool have_weights = false;             ///< probes were measured (weights were given)
};

/// `format` is one of table, json, csv (the per-layer table only), markdown.
std::string format_report(const ir::Graph& g, const ir::GraphStats& stats, const OptimizedView& opt,
                          const std::string& format);

}  // namespace cnnc::tool
