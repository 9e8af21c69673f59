// Test helper shared by the back-end tests: a textual-IR graph run through
// the default inference pipeline, ready to lower.
#pragma once

#include <gtest/gtest.h>

#include <iostream>
#include <string>

#include "frontend/load_network.h"
#include "ir/graph.h"
#include "passes/pass_manager.h"
#include "passes/passes.h"

namespace cnnc::test {

inline ir::Graph optimised(const std::string& text) {
  DiagnosticEngine diag(std::cerr);
  auto g = frontend::parse_cnnir_text(text, "test.cnnir", {}, diag);
  EXPECT_TRUE(g.has_value());
  passes::PassManager pm(passes::default_pipeline(passes::Mode::Inference), {});
  passes::PassContext ctx;
  pm.run(*g, ctx);
  return std::move(*g);
}

}  // namespace cnnc::test
