#include "ir/verifier.h"

#include <unordered_map>
#include <unordered_set>

namespace cnnc::ir {

namespace {

std::string sigil(const Value* v) { return (v->kind == ValueKind::Param ? "@" : "%") + v->name; }

class Verifier {
 public:
  Verifier(const Graph& g, DiagnosticEngine& d, const ShapeOptions& o)
      : g_(g), diag_(d), opts_(o) {}

  bool run() {
    if (g_.inputs().empty()) err(SourceLoc{}, "graph '" + g_.name + "' has no inputs");
    for (Value* v : g_.inputs()) {
      define(v);
      check_tensor_limits(v->type, "input '" + v->name + "'", v->loc, opts_, diag_);
    }
    for (Value* p : g_.params()) define(p);
    for (const auto& n : g_.nodes()) node(*n);
    if (g_.outputs().empty()) err(SourceLoc{}, "graph '" + g_.name + "' has no outputs");
    for (Value* o : g_.outputs())
      if (!defined_.count(o)) err(o->loc, "output " + sigil(o) + " is not defined");
    return ok_;
  }

 private:
  void err(const SourceLoc& loc, std::string msg) {
    diag_.error(loc, std::move(msg));
    ok_ = false;
  }

  void define(const Value* v) {
    auto& names = v->kind == ValueKind::Param ? param_names_ : names_;
    if (auto [it, fresh] = names.emplace(v->name, v); !fresh)
      err(v->loc, sigil(v) + " is defined twice (first at " + it->second->loc.str() + ")");
    defined_.insert(v);
  }

  void node(const Node& n) {
    if (n.outputs.empty()) {
      err(n.loc, std::string(op_name(n.op)) + " node has no results");
      return;
    }
    const std::string layer = "layer '" + n.name() + "': ";
    bool operands_ok = true;
    for (size_t i = 0; i < n.inputs.size(); ++i) {
      if (!defined_.count(n.inputs[i])) {
        err(n.loc, layer + "operand " + std::to_string(i) + " " + sigil(n.inputs[i]) +
                       " is used before it is defined");
        operands_ok = false;
      }
    }
    for (const auto& p : check_attrs(n.op, n.attrs)) err(n.loc, layer + p.message);
    auto ops = split_operands(n);
    if (!ops) {
      Arity a = data_arity(n.op);
      err(n.loc, layer + op_name(n.op) + " takes " + std::to_string(a.min) +
                     (a.max < 0        ? " or more"
                      : a.max == a.min ? ""
                                       : "-" + std::to_string(a.max)) +
                     " data input(s) and " + std::to_string(num_params(n.op, n.attrs)) +
                     " parameter(s), got " + std::to_string(n.inputs.size()) + " operands");
      operands_ok = false;
    } else {
      for (Value* d : ops->data)
        if (d->kind == ValueKind::Param) {
          err(n.loc, layer + "data operand " + sigil(d) + " is a parameter");
          operands_ok = false;
        }
      for (Value* p : ops->params)
        if (p->kind != ValueKind::Param) {
          err(n.loc, layer + "operand " + sigil(p) + " must be a parameter (@name)");
          operands_ok = false;
        }
    }
    if (operands_ok) {
      std::vector<TensorType> in;
      std::vector<std::string> names;
      for (Value* d : ops->data) {
        in.push_back(d->type);
        names.push_back(d->name);
      }
      ShapeContext ctx{diag_, n.loc, n.name(), nullptr, names, opts_, /*report_warnings=*/false};
      if (auto s = infer_shapes(n.op, n.attrs, in, ctx)) {
        compare(n, *s, *ops);
      } else {
        ok_ = false;
      }
    }
    for (Value* o : n.outputs) {
      if (o->producer != &n)
        err(n.loc, layer + "result " + sigil(o) + " does not point back at its node");
      define(o);
    }
  }

  void compare(const Node& n, const OpShapes& s, const Operands& ops) {
    const std::string layer = "layer '" + n.name() + "': ";
    if (s.outputs.size() != n.outputs.size()) {
      err(n.loc, layer + op_name(n.op) + " has " + std::to_string(s.outputs.size()) +
                     " results, node has " + std::to_string(n.outputs.size()));
      return;
    }
    for (size_t i = 0; i < s.outputs.size(); ++i) {
      if (s.outputs[i] != n.outputs[i]->type)
        err(n.loc, layer + "result " + sigil(n.outputs[i]) + " has type " +
                       n.outputs[i]->type.str() + ", but " + op_name(n.op) + " gives " +
                       s.outputs[i].str());
    }
    for (size_t i = 0; i < s.params.size(); ++i) {
      const Value* p = ops.params[i];
      TensorType want{DType::F32, s.params[i].shape};
      if (p->type != want)
        err(n.loc, layer + "parameter " + sigil(p) + " (" + param_suffix(s.params[i].role) +
                       ") has type " + p->type.str() + ", needs " + want.str());
    }
    if (ops.residual && ops.residual->type != s.outputs[0])
      err(n.loc, layer + "residual " + sigil(ops.residual) + " has type " +
                     ops.residual->type.str() + ", needs the result type " + s.outputs[0].str());
  }

  const Graph& g_;
  DiagnosticEngine& diag_;
  ShapeOptions opts_;
  bool ok_ = true;
  std::unordered_map<std::string, const Value*> names_, param_names_;
  std::unordered_set<const Value*> defined_;
};

}  // namespace

bool verify(const Graph& g, DiagnosticEngine& diag, const ShapeOptions& opts) {
  try {
    return Verifier(g, diag, opts).run();
  } catch (const DiagnosticsAbort&) {  // too many errors
    return false;
  }
}

}  // namespace cnnc::ir
