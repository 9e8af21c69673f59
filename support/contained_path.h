// Files a model refers to (a spec's weights, ONNX external data) are looked up
// relative to the model's directory and must stay inside it: no absolute
// path, no ".." above it, and no symbolic link leading out (CVE-2022-25882,
// CVE-2024-27318 are this mistake in ONNX readers).
#pragma once

#include <string>

namespace cnnc {

enum class PathProblem { None, Escapes, NotFound, LeadsOutside };

struct ContainedPath {
  std::string full;  ///< dir + "/" + rel (or rel when absolute and allowed)
  PathProblem problem = PathProblem::None;
  std::string real;  ///< where it resolves, for LeadsOutside
};

/// Resolves `rel` against `dir`; unless `allow_outside`, checks that it stays
/// inside. A missing or non-regular file is NotFound.
ContainedPath contain_path(const std::string& dir, const std::string& rel, bool allow_outside);

}  // namespace cnnc
