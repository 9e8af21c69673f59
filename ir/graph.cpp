#include "ir/graph.h"

#include <algorithm>
#include <unordered_set>

#include "support/internal_error.h"

namespace cnnc::ir {

const char* param_suffix(ParamRole r) {
  switch (r) {
    case ParamRole::Weight:
      return "weight";
    case ParamRole::Bias:
      return "bias";
    case ParamRole::Gamma:
      return "gamma";
    case ParamRole::Beta:
      return "beta";
    case ParamRole::RunningMean:
      return "running_mean";
    case ParamRole::RunningVar:
      return "running_var";
    case ParamRole::Updated:
      return "updated";
    case ParamRole::Momentum:
      return "momentum";
    case ParamRole::AdamM:
      return "adam_m";
    case ParamRole::AdamV:
      return "adam_v";
  }
  return "?";
}

int64_t Value::bytes() const {
  auto n = type.shape.elements();
  CNNC_INTERNAL_ASSERT(n.has_value()) << "value '" << name << "' has an unverified shape";
  return *n * dtype_size(type.dtype);
}

Graph Graph::clone() const {
  Graph c;
  c.name = name;
  c.weights_path = weights_path;
  c.source_dir = source_dir;
  c.arena_bytes = arena_bytes;
  std::unordered_map<const Value*, Value*> map;
  auto copy_value = [&](const Value* v, Value* nv) {
    nv->loc = v->loc;
    nv->arena_offset = v->arena_offset;
    nv->arena_batch_stride = v->arena_batch_stride;
    nv->data = v->data;
    map[v] = nv;
  };
  for (const Value* v : inputs_) copy_value(v, c.add_input(v->name, v->type));
  for (const Value* v : params_) copy_value(v, c.add_param(v->name, v->type));
  for (const auto& n : nodes_) {
    std::vector<Value*> ins;
    for (const Value* in : n->inputs) ins.push_back(map.at(in));
    std::vector<std::string> names;
    std::vector<TensorType> types;
    for (const Value* o : n->outputs) {
      names.push_back(o->name);
      types.push_back(o->type);
    }
    Node* m =
        c.add_node(n->op, n->attrs, std::move(ins), std::move(names), std::move(types), n->loc);
    m->fused = n->fused;
    for (size_t i = 0; i < n->outputs.size(); ++i) copy_value(n->outputs[i], m->outputs[i]);
  }
  for (const Value* o : outputs_) c.add_output(map.at(o));
  return c;
}

Value* Graph::new_value(ValueKind kind, std::string name, TensorType type, SourceLoc loc) {
  auto v = std::make_unique<Value>();
  v->kind = kind;
  v->name = std::move(name);
  v->type = std::move(type);
  v->loc = std::move(loc);
  values_.push_back(std::move(v));
  return values_.back().get();
}

Value* Graph::add_input(std::string name, TensorType type, SourceLoc loc) {
  Value* v = new_value(ValueKind::Input, std::move(name), std::move(type), std::move(loc));
  inputs_.push_back(v);
  return v;
}

Value* Graph::add_param(std::string name, TensorType type, SourceLoc loc) {
  Value* v = new_value(ValueKind::Param, std::move(name), std::move(type), std::move(loc));
  params_.push_back(v);
  return v;
}

Node* Graph::add_node(OpKind op, Attrs attrs, std::vector<Value*> inputs,
                      std::vector<std::string> out_names, std::vector<TensorType> out_types,
                      SourceLoc loc) {
  CNNC_INTERNAL_ASSERT(out_names.size() == out_types.size() && !out_names.empty())
      << "node '" << (out_names.empty() ? "" : out_names[0]) << "'";
  auto n = std::make_unique<Node>();
  n->op = op;
  n->attrs = std::move(attrs);
  n->inputs = std::move(inputs);
  n->loc = loc;
  for (size_t i = 0; i < out_names.size(); ++i) {
    Value* v = new_value(ValueKind::Result, std::move(out_names[i]), std::move(out_types[i]), loc);
    v->producer = n.get();
    v->result_index = static_cast<int>(i);
    n->outputs.push_back(v);
  }
  nodes_.push_back(std::move(n));
  return nodes_.back().get();
}

std::vector<std::string> Graph::remove_dead_nodes() {
  std::unordered_set<const Node*> live;
  std::unordered_set<const Value*> live_values(outputs_.begin(), outputs_.end());
  // Nodes are in topological order: one backward sweep finds everything that
  // reaches an output.
  for (auto it = nodes_.rbegin(); it != nodes_.rend(); ++it) {
    const Node* n = it->get();
    bool needed = std::any_of(n->outputs.begin(), n->outputs.end(),
                              [&](const Value* v) { return live_values.count(v) > 0; });
    if (!needed) continue;
    live.insert(n);
    for (const Value* in : n->inputs) live_values.insert(in);
  }
  std::vector<std::string> removed;
  std::vector<std::unique_ptr<Node>> kept;
  for (auto& n : nodes_) {
    if (live.count(n.get()))
      kept.push_back(std::move(n));
    else
      removed.push_back(n->name());
  }
  nodes_ = std::move(kept);
  std::erase_if(params_, [&](const Value* p) { return live_values.count(p) == 0; });
  collect_garbage();
  return removed;
}

void Graph::erase_node(Node* n) {
  auto uses = use_counts();
  for (const Value* o : n->outputs)
    CNNC_INTERNAL_ASSERT(uses[o] == 0)
        << "erasing node '" << n->name() << "' whose result is still used";
  std::erase_if(nodes_, [&](const std::unique_ptr<Node>& p) { return p.get() == n; });
  collect_garbage();
}

Node* Graph::insert_after(const Node* pos, std::unique_ptr<Node> n) {
  auto it = nodes_.begin();
  if (pos) {
    it = std::find_if(nodes_.begin(), nodes_.end(),
                      [&](const std::unique_ptr<Node>& p) { return p.get() == pos; });
    CNNC_INTERNAL_ASSERT(it != nodes_.end()) << "insert_after: node not in the graph";
    ++it;
  }
  return nodes_.insert(it, std::move(n))->get();
}

std::vector<std::string> Graph::remove_unused_params() {
  auto uses = use_counts();
  std::vector<std::string> removed;
  std::erase_if(params_, [&](const Value* p) {
    if (uses[p] > 0) return false;
    removed.push_back(p->name);
    return true;
  });
  collect_garbage();
  return removed;
}

void Graph::collect_garbage() {
  std::unordered_set<const Value*> used(inputs_.begin(), inputs_.end());
  used.insert(params_.begin(), params_.end());
  used.insert(outputs_.begin(), outputs_.end());
  for (const auto& n : nodes_) {
    used.insert(n->inputs.begin(), n->inputs.end());
    used.insert(n->outputs.begin(), n->outputs.end());
  }
  std::erase_if(values_, [&](const std::unique_ptr<Value>& v) { return used.count(v.get()) == 0; });
}

void Graph::replace_all_uses(Value* from, Value* to) {
  for (auto& n : nodes_)
    for (Value*& in : n->inputs)
      if (in == from) in = to;
  for (Value*& o : outputs_)
    if (o == from) o = to;
}

Value* Graph::find_value(std::string_view name, bool param) const {
  for (const auto& v : values_) {
    if ((v->kind == ValueKind::Param) == param && v->name == name) return v.get();
  }
  return nullptr;
}

std::unordered_map<const Value*, int> Graph::use_counts() const {
  std::unordered_map<const Value*, int> uses;
  for (const auto& n : nodes_)
    for (const Value* in : n->inputs) ++uses[in];
  for (const Value* o : outputs_) ++uses[o];
  return uses;
}

bool Graph::is_training() const {
  return std::any_of(nodes_.begin(), nodes_.end(),
                     [](const auto& n) { return op_info(n->op).role != OpRole::Layer; });
}

int64_t Graph::batch() const {
  if (inputs_.empty() || inputs_[0]->type.shape.rank() == 0) return 1;
  return inputs_[0]->type.shape[0];
}

}  // namespace cnnc::ir
