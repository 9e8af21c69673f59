#include "io/weights.h"

#include <cmath>
#include <unordered_map>
#include <unordered_set>

#include "ir/shape_inference.h"
#include "support/format.h"
#include "support/internal_error.h"
#include "support/random.h"
#include "support/suggest.h"

namespace cnnc::io {

using ir::Graph;
using ir::Node;
using ir::OpKind;
using ir::Value;

const Node* owner_of(const Graph& g, const Value* p) {
  for (const auto& n : g.nodes())
    for (const Value* in : n->inputs)
      if (in == p) return n.get();
  return nullptr;
}

std::optional<ir::ParamRole> role_of(const Graph& g, const Value* p) {
  const Node* owner = owner_of(g, p);
  if (!owner) return std::nullopt;
  auto ops = ir::split_operands(*owner);
  CNNC_INTERNAL_ASSERT(ops.has_value()) << "unverified node '" << owner->name() << "'";
  std::vector<ir::ParamRole> roles = ir::param_roles(owner->op, owner->attrs);
  for (size_t i = 0; i < ops->params.size(); ++i)
    if (ops->params[i] == p) return roles[i];
  return std::nullopt;
}

std::vector<std::pair<std::string, const ir::Tensor*>> collect_weights(const Graph& g) {
  std::vector<std::pair<std::string, const ir::Tensor*>> out;
  for (const Value* p : g.params()) {
    CNNC_INTERNAL_ASSERT(p->data != nullptr) << "parameter '" << p->name << "' has no data";
    out.emplace_back(p->name, p->data.get());
  }
  return out;
}

namespace {

std::string dims_text(const ir::Shape& s) {
  std::string t = "[";
  for (size_t i = 0; i < s.dims.size(); ++i) t += (i ? ", " : "") + std::to_string(s.dims[i]);
  return t + "]";
}

// Whether p is optimizer state (momentum, Adam's moments) of its update op.
bool is_optimizer_state(const Node* owner, const Value* p) {
  if (!owner || ir::op_info(owner->op).role != ir::OpRole::Update) return false;
  auto ops = ir::split_operands(*owner);
  std::vector<ir::ParamRole> roles = ir::param_roles(owner->op, owner->attrs);
  for (size_t i = 0; ops && i < ops->params.size() && i < roles.size(); ++i)
    if (ops->params[i] == p)
      return roles[i] == ir::ParamRole::Momentum || roles[i] == ir::ParamRole::AdamM ||
             roles[i] == ir::ParamRole::AdamV;
  return false;
}

}  // namespace

bool bind_weights(Graph& g, std::vector<NamedTensor> tensors, const std::string& path,
                  const BindOptions& opts, DiagnosticEngine& diag) {
  SourceLoc file = make_file_loc(path);
  int before = diag.error_count();
  std::unordered_map<std::string, size_t> index;
  for (size_t i = 0; i < tensors.size(); ++i) index.emplace(tensors[i].name, i);
  std::unordered_set<std::string> used;
  std::vector<std::string> names;
  for (const auto& t : tensors) names.push_back(t.name);
  for (Value* p : g.params()) {
    const Node* owner = owner_of(g, p);
    std::string layer = owner ? owner->name() : std::string("?");
    std::vector<Note> where;
    if (owner && owner->loc.known())
      where.push_back({owner->loc, "layer '" + layer + "' is defined here"});
    auto it = index.find(p->name);
    if (it == index.end() && p->data && is_optimizer_state(owner, p))
      continue;  // a file of weights only: the optimizer starts from its zeroed state
    if (it == index.end()) {
      std::vector<std::string> unused;
      for (const auto& n : names)
        if (!g.find_value(n, true)) unused.push_back(n);
      diag.error(file,
                 "layer '" + layer + "' needs '" + p->name + "' " + dims_text(p->type.shape) +
                     "; it is not in the file" + did_you_mean(p->name, unused),
                 where);
      continue;
    }
    used.insert(p->name);
    ir::Tensor& t = tensors[it->second].tensor;
    if (t.shape != p->type.shape) {
      std::vector<Note> notes = where;
      // A conv weight whose only mismatch is its input channels: say which input.
      if (owner && owner->op == OpKind::Conv2d && p == owner->inputs[1] && t.shape.rank() == 4 &&
          t.shape[0] == p->type.shape[0] && t.shape[2] == p->type.shape[2] &&
          t.shape[3] == p->type.shape[3]) {
        const Value* x = owner->inputs[0];
        notes.push_back({SourceLoc{}, "input '" + x->name + "' of layer '" + layer + "' has " +
                                          std::to_string(x->type.shape[1]) + " channels (groups " +
                                          std::to_string(owner->as<ir::Conv2dAttrs>().groups) +
                                          "), so the weight takes " +
                                          std::to_string(p->type.shape[1]) + " per group, not " +
                                          std::to_string(t.shape[1])});
      }
      diag.error(file,
                 "tensor '" + p->name + "' is " + dims_text(t.shape) + "; layer '" + layer +
                     "' needs " + dims_text(p->type.shape),
                 notes);
      continue;
    }
    bool is_var = role_of(g, p) == ir::ParamRole::RunningVar;
    for (int64_t i = 0; i < t.size(); ++i) {
      float v = t[i];
      if (!std::isfinite(v)) {
        diag.error(file, "tensor '" + p->name + "'[" + std::to_string(i) + "] is " +
                             (std::isnan(v) ? "NaN" : "infinite") + " (layer '" + layer + "')");
        break;
      }
      if (is_var && v < 0) {
        diag.error(file, "tensor '" + p->name + "'[" + std::to_string(i) + "] is " +
                             format_float(v) + "; a variance must be >= 0 (layer '" + layer + "')");
        break;
      }
    }
    p->data = std::make_shared<const ir::Tensor>(std::move(t));
  }
  // A file for a bigger network may hold thousands of unused tensors: name
  // the first few, count the rest.
  constexpr int kNamed = 10;
  int unused = 0;
  for (const auto& t : tensors) {
    if (used.count(t.name) || ++unused > kNamed) continue;
    std::string msg = "tensor '" + t.name + "' is not used by the network";
    if (opts.strict)
      diag.error(file, msg + " (--strict-weights)");
    else
      diag.warning(file, msg);
  }
  if (unused > kNamed) {
    std::string msg =
        "and " + std::to_string(unused - kNamed) + " more tensors not used by the network";
    if (opts.strict)
      diag.error(file, msg + " (--strict-weights)");
    else
      diag.warning(file, msg);
  }
  return diag.error_count() == before;
}

// ---------------------------------------------------------------------------
// Deterministic initialisation: RandomStream uses IEEE basic operations only,
// so every machine gets the same bits.

namespace {

// The gain of He initialisation for the activation that follows `n`, or 0
// when none of the ReLU family follows (then Xavier is used).
double relu_gain(const Node& n,
                 const std::unordered_map<const Value*, std::vector<const Node*>>& users) {
  auto gain_of = [](OpKind op, double alpha) {
    switch (op) {
      case OpKind::Relu:
      case OpKind::Clip:
      case OpKind::Elu:
      case OpKind::Gelu:
        return std::sqrt(2.0);
      case OpKind::LeakyRelu:
        return std::sqrt(2.0 / (1 + alpha * alpha));
      default:
        return 0.0;
    }
  };
  if (const ir::Epilogue* e = ir::epilogue_of(n.attrs); e && e->act.op)
    return gain_of(*e->act.op, e->act.alpha);
  const Value* v = n.output();
  while (true) {
    auto it = users.find(v);
    if (it == users.end() || it->second.size() != 1) return 0.0;
    const Node* u = it->second[0];
    if (u->op == OpKind::BatchNorm || u->op == OpKind::Dropout) {
      v = u->output();
      continue;
    }
    double alpha = u->op == OpKind::LeakyRelu ? u->as<ir::LeakyReluAttrs>().alpha : 0.0;
    return gain_of(u->op, alpha);
  }
}

}  // namespace

void init_weights(Graph& g, uint64_t seed) {
  std::unordered_map<const Value*, std::vector<const Node*>> users;
  for (const auto& n : g.nodes())
    for (const Value* in : n->inputs) users[in].push_back(n.get());
  for (Value* p : g.params()) {
    auto t = std::make_shared<ir::Tensor>(p->type.shape);
    const Node* owner = owner_of(g, p);
    ir::ParamRole role = role_of(g, p).value_or(ir::ParamRole::Weight);
    const ir::Shape& s = p->type.shape;
    if (role == ir::ParamRole::Weight && owner &&
        (owner->op == OpKind::Conv2d || owner->op == OpKind::Linear)) {
      int64_t receptive = s.rank() == 4 ? s[2] * s[3] : 1;
      double fan_in = static_cast<double>(s[1] * receptive),
             fan_out = static_cast<double>(s[0] * receptive);
      RandomStream rng(seed, p->name);
      double gain = relu_gain(*owner, users);
      if (gain > 0) {
        double std_dev = gain / std::sqrt(fan_in);
        for (float& v : t->data) v = static_cast<float>(std_dev * rng.normal());
      } else {
        double bound = std::sqrt(6.0 / (fan_in + fan_out));
        for (float& v : t->data) v = static_cast<float>(bound * (2 * rng.uniform() - 1));
      }
    } else if (role == ir::ParamRole::Gamma || role == ir::ParamRole::RunningVar) {
      std::fill(t->data.begin(), t->data.end(), 1.0f);
    }  // biases, beta and running means stay 0
    p->data = std::move(t);
  }
}

}  // namespace cnnc::io
