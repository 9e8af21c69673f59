#include "backends/reference/interpreter.h"

#include <algorithm>
#include <unordered_map>

#include "backends/reference/kernels.h"
#include "ir/shape_inference.h"
#include "support/internal_error.h"

namespace cnnc::reference {

using ir::Node;
using ir::OpKind;
using ir::Value;

bool check_runnable(const ir::Graph& g, const RunOptions& opts, DiagnosticEngine& diag) {
  int before = diag.error_count();
  if (opts.mode != Mode::Training) return true;
  for (const auto& n : g.nodes()) {
    if (n->op != OpKind::BatchNorm) continue;
    const ir::Shape& x = n->inputs[0]->type.shape;
    int64_t per_channel = x[0];
    for (int i = 2; i < x.rank(); ++i) per_channel *= x[i];
    if (per_channel < 2)
      diag.error(n->loc,
                 "layer '" + n->name() +
                     "': batch_norm in training mode needs more than one value per channel; "
                     "its input is " +
                     x.str() + " (use a batch of at least 2)");
  }
  return diag.error_count() == before;
}

namespace {

class Interpreter {
 public:
  Interpreter(const ir::Graph& g, const std::vector<ir::Tensor>& inputs, const RunOptions& opts)
      : g_(g), opts_(opts) {
    CNNC_INTERNAL_ASSERT(inputs.size() == g.inputs().size())
        << "run given " << inputs.size() << " inputs for " << g.inputs().size();
    for (size_t i = 0; i < inputs.size(); ++i) {
      CNNC_INTERNAL_ASSERT(inputs[i].shape == g.inputs()[i]->type.shape)
          << "input '" << g.inputs()[i]->name << "' has shape " << inputs[i].shape.str();
      bound_[g.inputs()[i]] = &inputs[i];
    }
    for (const Value* p : g.params()) {
      CNNC_INTERNAL_ASSERT(p->data != nullptr) << "parameter '" << p->name << "' has no data";
      bound_[p] = p->data.get();
    }
    uses_ = g.use_counts();
    if (opts.simulate_arena) {
      CNNC_INTERNAL_ASSERT(g.arena_bytes.has_value())
          << "simulate_arena on a graph without a memory plan";
      arena_.assign(static_cast<size_t>(*g.arena_bytes / 4 + 1), 0.0f);
    }
  }

  RunResult run() {
    for (const auto& n : g_.nodes()) {
      if (opts_.simulate_arena) {
        // Each step sees the arena as it is now: results come from their slots.
        owned_.clear();
        for (const Value* in : n->inputs)
          if (in->kind == ir::ValueKind::Result) owned_.emplace(in, load(in));
      }
      step(*n);
      if (opts_.simulate_arena) {
        for (const Value* o : n->outputs) store(o, owned_.at(o));
        continue;
      }
      // Free intermediates nobody reads any more (graph outputs keep a use).
      for (const Value* in : n->inputs)
        if (in->kind == ir::ValueKind::Result && --uses_[in] == 0) owned_.erase(in);
    }
    RunResult r;
    for (const Value* o : g_.outputs())
      r.outputs.push_back(opts_.simulate_arena && o->kind == ir::ValueKind::Result ? load(o)
                                                                                   : get(o));
    r.updated_state = std::move(state_);
    return r;
  }

 private:
  const ir::Tensor& get(const Value* v) const {
    if (auto it = owned_.find(v); it != owned_.end()) return it->second;
    auto it = bound_.find(v);
    CNNC_INTERNAL_ASSERT(it != bound_.end())
        << "value '" << v->name << "' read before it was computed";
    return *it->second;
  }

  ir::Tensor& out(const Node& n) {
    return owned_.emplace(n.output(), ir::Tensor(n.output()->type.shape)).first->second;
  }

  void step(const Node& n) {
    auto ops = ir::split_operands(n);
    CNNC_INTERNAL_ASSERT(ops.has_value()) << "unverified node '" << n.name() << "'";
    const ir::Tensor& x = get(ops->data[0]);
    auto param = [&](size_t i) -> const ir::Tensor* {
      return i < ops->params.size() ? &get(ops->params[i]) : nullptr;
    };
    ir::Tensor& y = out(n);
    switch (n.op) {
      case OpKind::Conv2d:
        conv2d(x, *param(0), param(1), n.as<ir::Conv2dAttrs>(), y);
        break;
      case OpKind::Linear:
        linear(x, *param(0), param(1), y);
        break;
      case OpKind::BatchNorm: {
        const double eps = n.as<ir::BatchNormAttrs>().eps;
        if (opts_.mode == Mode::Inference) {
          batch_norm_inference(x, *param(0), *param(1), *param(2), *param(3), eps, y);
        } else {
          ir::Tensor mean(param(2)->shape), var(param(3)->shape);
          batch_norm_training(x, *param(0), *param(1), *param(2), *param(3), eps,
                              n.as<ir::BatchNormAttrs>().momentum, y, mean, var);
          state_.emplace_back(ops->params[2]->name, std::move(mean));
          state_.emplace_back(ops->params[3]->name, std::move(var));
        }
        break;
      }
      case OpKind::Relu:
      case OpKind::Selu:
      case OpKind::Gelu:
      case OpKind::Sigmoid:
      case OpKind::Tanh:
        activation(n.op, 0, 0, x, y);
        break;
      case OpKind::LeakyRelu:
        activation(n.op, n.as<ir::LeakyReluAttrs>().alpha, 0, x, y);
        break;
      case OpKind::Elu:
        activation(n.op, n.as<ir::EluAttrs>().alpha, 0, x, y);
        break;
      case OpKind::Clip:
        activation(n.op, n.as<ir::ClipAttrs>().min, n.as<ir::ClipAttrs>().max, x, y);
        break;
      case OpKind::MaxPool:
        max_pool(x, n.as<ir::PoolAttrs>(), y);
        break;
      case OpKind::AvgPool:
        avg_pool(x, n.as<ir::AvgPoolAttrs>(), y);
        break;
      case OpKind::GlobalAvgPool:
        global_avg_pool(x, y);
        break;
      case OpKind::Lrn:
        lrn(x, n.as<ir::LrnAttrs>(), y);
        break;
      case OpKind::Dropout:
        dropout(x, n.as<ir::DropoutAttrs>(), opts_.mode == Mode::Training, opts_.seed, n.name(), y);
        break;
      case OpKind::Flatten:
        y.data = x.data;  // same values, new shape
        break;
      case OpKind::Concat:
      case OpKind::Add: {
        std::vector<const ir::Tensor*> xs;
        for (const Value* d : ops->data) xs.push_back(&get(d));
        if (n.op == OpKind::Add)
          add(xs, y);
        else
          concat(xs, n.as<ir::ConcatAttrs>().axis, y);
        break;
      }
      case OpKind::Softmax:
        softmax(x, n.as<ir::SoftmaxAttrs>().axis, y);
        break;
    }
    if (const ir::Epilogue* e = ir::epilogue_of(n.attrs); e && !e->empty())
      apply_epilogue(*e, ops->residual ? &get(ops->residual) : nullptr, y);
  }

  size_t slot(const Value* v) const {
    CNNC_INTERNAL_ASSERT(v->arena_offset.has_value() && *v->arena_offset % 4 == 0 &&
                         *v->arena_offset + v->bytes() <= *g_.arena_bytes)
        << "value '" << v->name << "' has no valid arena offset";
    return static_cast<size_t>(*v->arena_offset / 4);
  }
  ir::Tensor load(const Value* v) const {
    ir::Tensor t(v->type.shape);
    std::copy_n(arena_.begin() + static_cast<std::ptrdiff_t>(slot(v)), t.data.size(),
                t.data.begin());
    return t;
  }
  void store(const Value* v, const ir::Tensor& t) {
    std::copy(t.data.begin(), t.data.end(), arena_.begin() + static_cast<std::ptrdiff_t>(slot(v)));
  }

  const ir::Graph& g_;
  RunOptions opts_;
  std::vector<float> arena_;
  std::unordered_map<const Value*, const ir::Tensor*> bound_;  ///< inputs and parameters
  std::unordered_map<const Value*, ir::Tensor> owned_;         ///< computed results still needed
  std::unordered_map<const Value*, int> uses_;
  std::vector<std::pair<std::string, ir::Tensor>> state_;
};

}  // namespace

RunResult run(const ir::Graph& g, const std::vector<ir::Tensor>& inputs, const RunOptions& opts) {
  return Interpreter(g, inputs, opts).run();
}

}  // namespace cnnc::reference
