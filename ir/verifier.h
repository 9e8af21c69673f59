// The IR verifier: structural and semantic checks every graph must pass, run
// after every frontend and (in tests and with --verify-each) after every pass.
#pragma once

#include "ir/graph.h"
#include "ir/shape_inference.h"
#include "support/diagnostics.h"

namespace cnnc::ir {

/// Checks: unique names; operands defined before use (SSA, topological order);
/// operand count and kinds fit the op; attributes in range; result and
/// parameter types equal what shape inference gives; graph inputs and
/// outputs present. Reports every problem found at the node's location and
/// returns false if there was any.
bool verify(const Graph& g, DiagnosticEngine& diag, const ShapeOptions& opts = {});

}  // namespace cnnc::ir
