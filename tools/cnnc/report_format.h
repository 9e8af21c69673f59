// Rendering of `cnnc report`: an aligned table for people, and JSON, CSV and
// Markdown for tools and documents. The JSON form is documented in the README.
#pragma once

#include <string>

#include "ir/analysis.h"
#include "ir/graph.h"

namespace cnnc::tool {

/// `format` is one of table, json, csv, markdown.
std::string format_report(const ir::Graph& g, const ir::GraphStats& stats,
                          const std::string& format);

}  // namespace cnnc::tool
