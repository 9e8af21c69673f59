// Inputs and outputs of `cnnc run`: NAME=FILE.npy bindings, output summaries,
// and the comparison of two runs' outputs.
#pragma once

#include <string>
#include <vector>

#include "ir/tensor.h"
#include "support/diagnostics.h"
#include "support/numeric_diff.h"

namespace cnnc::tool {

/// "name=file" or "file".
struct Binding {
  std::string name, file;
};
Binding split_binding(const std::string& v);

class ArgParser;
/// Adds --input [NAME=]FILE.npy and --output [NAME=]FILE.npy (repeatable);
/// `what` is "model" or "network" in the help.
void add_io_options(ArgParser& p, std::vector<Binding>& inputs, std::vector<Binding>& outputs,
                    const char* what);

/// A binding resolved to the index of the input or output it names.
struct Bound {
  size_t index;
  std::string file;
};

/// Resolves bindings against `names`; a bare file is allowed only when there
/// is exactly one candidate. Reports usage errors (unknown, ambiguous, twice).
std::vector<Bound> match(const std::vector<Binding>& bs, const std::vector<std::string>& names,
                         const char* flag, const char* kind, DiagnosticEngine& diag);

/// Prints shape, min/max/mean and (rank 2) the argmax of each row.
void print_summary(const std::string& name, const ir::Tensor& t);

/// Outputs against reference outputs, element by element (support/numeric_diff.h);
/// `names` label them. A shape mismatch counts every element as a mismatch.
NumericDiff compare(const std::vector<ir::Tensor>& got, const std::vector<ir::Tensor>& want,
                    const std::vector<std::string>& names, const Tolerance& tol);

}  // namespace cnnc::tool
