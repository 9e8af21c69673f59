// Shared state of the JSON spec reader: where errors go, block parameter
// environments, and value lookup with `$param` substitution.
#pragma once

#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "frontend/spec_reader.h"
#include "support/diagnostics.h"
#include "support/json_reader.h"

namespace cnnc::frontend {

using Frame = std::shared_ptr<const InstantiationFrame>;

/// Block parameters in scope: name -> the JSON value bound to it (an argument
/// at the instance, or the block's default). Values point into the spec's DOM.
struct Env {
  std::unordered_map<std::string, const json::Value*> values;
  std::string block;  ///< the block whose parameters these are
};
using EnvPtr = std::shared_ptr<const Env>;

class SpecContext {
 public:
  SpecContext(DiagnosticEngine& d, SourceLoc file, const FrontendOptions& o)
      : diag(d), opts(o), file_(std::move(file)) {}

  DiagnosticEngine& diag;
  const FrontendOptions& opts;

  SourceLoc at(json::Pos p, const Frame& frame = nullptr) const {
    SourceLoc l = file_.at(p.line, p.col);
    l.from = frame;
    return l;
  }
  const SourceLoc& file() const { return file_; }

  /// Follows a `"$name"` string to the value bound in `env`. Reports an error
  /// and returns nullptr for an unknown parameter or a `$` outside any block.
  const json::Value* resolve(const json::Value& v, const EnvPtr& env, const Frame& frame) const;

 private:
  SourceLoc file_;
};

/// True for a string of the form "$name".
inline bool is_param_ref(const json::Value& v) {
  return v.kind == json::Kind::String && v.text.size() > 1 && v.text[0] == '$';
}

/// Checks a layer/input/block name against [A-Za-z_][A-Za-z0-9_.-]{0,127}
/// (digits may start names local to a block). Reports and returns false.
bool check_name(SpecContext& c, const json::Value& v, const Frame& frame, const char* what,
                bool local);

}  // namespace cnnc::frontend
