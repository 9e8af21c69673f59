#include "backends/reference/interpreter.h"

#include <algorithm>
#include <cmath>
#include <unordered_map>

#include "backends/reference/kernels.h"
#include "ir/shape_inference.h"
#include "support/format.h"
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

bool check_inputs(const ir::Graph& g, const std::vector<ir::Tensor>& inputs,
                  DiagnosticEngine& diag) {
  for (const auto& n : g.nodes()) {
    if (n->op != OpKind::SoftmaxCrossEntropy) continue;
    const Value* labels = n->inputs[1];
    auto it = std::find(g.inputs().begin(), g.inputs().end(), labels);
    if (it == g.inputs().end()) continue;
    const ir::Tensor& t = inputs.at(static_cast<size_t>(it - g.inputs().begin()));
    const int64_t classes = n->inputs[0]->type.shape[1];
    for (int64_t i = 0; i < t.size(); ++i) {
      const float l = t[i];
      if (l >= 0 && l < static_cast<float>(classes) && l == std::floor(l)) continue;
      diag.error(labels->loc, "input '" + labels->name + "': label " + format_double(l) +
                                  " at index " + std::to_string(i) + " is not a class index of '" +
                                  n->inputs[0]->name + "' (0.." + std::to_string(classes - 1) +
                                  ")");
      return false;
    }
  }
  return true;
}

namespace {

class Interpreter {
 public:
  Interpreter(const ir::Graph& g, std::vector<Tensor64> inputs, const RunOptions& opts,
              const Params64* params)
      : g_(g), opts_(opts), inputs_(std::move(inputs)) {
    CNNC_INTERNAL_ASSERT(inputs_.size() == g.inputs().size())
        << "run given " << inputs_.size() << " inputs for " << g.inputs().size();
    for (size_t i = 0; i < inputs_.size(); ++i) {
      CNNC_INTERNAL_ASSERT(inputs_[i].shape == g.inputs()[i]->type.shape)
          << "input '" << g.inputs()[i]->name << "' has shape " << inputs_[i].shape.str();
      bound_[g.inputs()[i]] = &inputs_[i];
    }
    params_.reserve(g.params().size());
    for (const Value* p : g.params()) {
      if (params) {
        if (auto it = params->find(p->name); it != params->end()) {
          CNNC_INTERNAL_ASSERT(it->second.shape == p->type.shape)
              << "parameter override '" << p->name << "' has shape " << it->second.shape.str();
          bound_[p] = &it->second;
          continue;
        }
      }
      CNNC_INTERNAL_ASSERT(p->data != nullptr) << "parameter '" << p->name << "' has no data";
      bound_[p] = &params_.emplace_back(ir::convert<double>(*p->data));
    }
    uses_ = g.use_counts();
    if (opts.simulate_arena) {
      CNNC_INTERNAL_ASSERT(g.arena_bytes.has_value())
          << "simulate_arena on a graph without a memory plan";
      // One slot per float of the planned arena, each holding a double.
      arena_.assign(static_cast<size_t>(*g.arena_bytes / 4 + 1), 0.0);
    }
  }

  RunResult64 run() {
    for (const auto& n : g_.nodes()) {
      if (opts_.simulate_arena) {
        // Each step sees the arena as it is now: results come from their slots.
        owned_.clear();
        for (const Value* in : n->inputs)
          if (in->kind == ir::ValueKind::Result) owned_.emplace(in, load(in));
      }
      if (ir::is_grad(n->op))
        step_grad(*n);
      else if (ir::op_info(n->op).role == ir::OpRole::Update)
        step_update(*n);
      else
        step(*n);
      if (opts_.simulate_arena) {
        for (const Value* o : n->outputs) store(o, owned_.at(o));
        continue;
      }
      // Free intermediates nobody reads any more (graph outputs keep a use).
      for (const Value* in : n->inputs)
        if (in->kind == ir::ValueKind::Result && --uses_[in] == 0) owned_.erase(in);
    }
    RunResult64 r;
    for (const Value* o : g_.outputs())
      r.outputs.push_back(opts_.simulate_arena && o->kind == ir::ValueKind::Result ? load(o)
                                                                                   : get(o));
    r.updated_state = std::move(state_);
    return r;
  }

 private:
  const Tensor64& get(const Value* v) const {
    if (auto it = owned_.find(v); it != owned_.end()) return it->second;
    auto it = bound_.find(v);
    CNNC_INTERNAL_ASSERT(it != bound_.end())
        << "value '" << v->name << "' read before it was computed";
    return *it->second;
  }

  Tensor64& out(const Value* v) { return owned_.emplace(v, Tensor64(v->type.shape)).first->second; }

  void step(const Node& n) {
    auto ops = ir::split_operands(n);
    CNNC_INTERNAL_ASSERT(ops.has_value()) << "unverified node '" << n.name() << "'";
    const Tensor64& x = get(ops->data[0]);
    auto param = [&](size_t i) -> const Tensor64* {
      return i < ops->params.size() ? &get(ops->params[i]) : nullptr;
    };
    Tensor64& y = out(n.output());
    const bool training = opts_.mode == Mode::Training;
    switch (n.op) {
      case OpKind::Conv2d:
        conv2d(x, *param(0), param(1), n.as<ir::Conv2dAttrs>(), y);
        break;
      case OpKind::Linear:
        linear(x, *param(0), param(1), y);
        break;
      case OpKind::BatchNorm: {
        const double eps = n.as<ir::BatchNormAttrs>().eps;
        if (!training) {
          batch_norm_inference(x, *param(0), *param(1), *param(2), *param(3), eps, y);
        } else {
          Tensor64 mean(param(2)->shape), var(param(3)->shape);
          batch_norm_training(x, *param(0), *param(1), *param(2), *param(3), eps,
                              n.as<ir::BatchNormAttrs>().momentum, y, mean, var);
          state_.emplace_back(ops->params[2]->name, std::move(mean));
          state_.emplace_back(ops->params[3]->name, std::move(var));
        }
        break;
      }
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
        dropout(x, n.as<ir::DropoutAttrs>(), training, opts_.seed, n.name(), y);
        break;
      case OpKind::Flatten:
        y.data = x.data;  // same values, new shape
        break;
      case OpKind::Concat:
      case OpKind::Add: {
        std::vector<const Tensor64*> xs;
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
      case OpKind::SoftmaxCrossEntropy:
        softmax_cross_entropy(x, get(ops->data[1]), y);
        break;
      case OpKind::MseLoss:
        mse_loss(x, get(ops->data[1]), y);
        break;
      default: {
        const Act a = act(n);
        activation(n.op, a.alpha, a.beta, x, y);
      }
    }
    if (const ir::Epilogue* e = ir::epilogue_of(n.attrs); e && !e->empty())
      apply_epilogue(*e, ops->residual ? &get(ops->residual) : nullptr, y);
  }

  // An activation op's two numbers: leaky_relu slope, elu alpha, clip min/max.
  struct Act {
    double alpha = 0, beta = 0;
  };
  static Act act(const Node& n) {
    CNNC_INTERNAL_ASSERT(ir::op_info(ir::op_info(n.op).forward).is_activation)
        << "no reference kernel for '" << ir::op_name(n.op) << "'";
    if (const auto* l = std::get_if<ir::LeakyReluAttrs>(&n.attrs)) return {l->alpha, 0};
    if (const auto* e = std::get_if<ir::EluAttrs>(&n.attrs)) return {e->alpha, 0};
    if (const auto* c = std::get_if<ir::ClipAttrs>(&n.attrs)) return {c->min, c->max};
    return {};
  }

  // A backward op: operands (forward data inputs, y, dy unless a loss's,
  // forward params),
  // results (gradients of the differentiable inputs, then of the trainable
  // parameters), all zero-initialised and accumulated by the kernels.
  void step_grad(const Node& n) {
    auto ops = ir::split_operands(n);
    CNNC_INTERNAL_ASSERT(ops.has_value()) << "unverified node '" << n.name() << "'";
    const size_t nf =
        static_cast<size_t>(ir::forward_data_inputs(n.op, static_cast<int>(ops->data.size())));
    const Tensor64& x = get(ops->data[0]);
    const Value* y_value = ops->data[nf];
    const Tensor64& y = get(y_value);
    const Tensor64 one(ir::Shape{{1}}, 1.0);  // a loss's own gradient
    const Tensor64& dy = nf + 1 < ops->data.size() ? get(ops->data[nf + 1]) : one;
    std::vector<Tensor64*> grads;
    for (const Value* o : n.outputs) grads.push_back(&out(o));
    auto param = [&](size_t i) -> const Tensor64& { return get(ops->params[i]); };
    const OpKind fwd = ir::op_info(n.op).forward;
    const bool training = opts_.mode == Mode::Training;
    switch (fwd) {
      case OpKind::Conv2d:
        conv2d_grad(x, param(0), dy, n.as<ir::Conv2dAttrs>(), *grads[0], *grads[1],
                    grads.size() > 2 ? grads[2] : nullptr);
        break;
      case OpKind::Linear:
        linear_grad(x, param(0), dy, *grads[0], *grads[1], grads.size() > 2 ? grads[2] : nullptr);
        break;
      case OpKind::BatchNorm:
        batch_norm_grad(x, param(0), param(2), param(3), n.as<ir::BatchNormAttrs>().eps, training,
                        dy, *grads[0], *grads[1], *grads[2]);
        break;
      case OpKind::MaxPool:
        max_pool_grad(x, n.as<ir::PoolAttrs>(), dy, *grads[0]);
        break;
      case OpKind::AvgPool:
        avg_pool_grad(x, n.as<ir::AvgPoolAttrs>(), dy, *grads[0]);
        break;
      case OpKind::GlobalAvgPool:
        global_avg_pool_grad(dy, *grads[0]);
        break;
      case OpKind::Lrn:
        lrn_grad(x, n.as<ir::LrnAttrs>(), dy, *grads[0]);
        break;
      case OpKind::Dropout:
        // The forward layer's name keys its mask stream.
        dropout_grad(n.as<ir::DropoutAttrs>(), training, opts_.seed, y_value->name, dy, *grads[0]);
        break;
      case OpKind::Flatten:
        grads[0]->data = dy.data;
        break;
      case OpKind::Concat:
        concat_grad(dy, n.as<ir::ConcatAttrs>().axis, grads);
        break;
      case OpKind::Add:
        for (Tensor64* g : grads) g->data = dy.data;
        break;
      case OpKind::Softmax:
        softmax_grad(y, n.as<ir::SoftmaxAttrs>().axis, dy, *grads[0]);
        break;
      case OpKind::SoftmaxCrossEntropy:
        softmax_cross_entropy_grad(x, get(ops->data[1]), dy, *grads[0]);
        break;
      case OpKind::MseLoss:
        mse_loss_grad(x, get(ops->data[1]), dy, *grads[0]);
        break;
      default: {
        const Act a = act(n);
        activation_grad(fwd, a.alpha, a.beta, x, y, dy, *grads[0]);
      }
    }
  }

  // An optimizer step: operands (grad, lr[, t], param, state...), results
  // (next param, next state...).
  void step_update(const Node& n) {
    auto ops = ir::split_operands(n);
    CNNC_INTERNAL_ASSERT(ops.has_value()) << "unverified node '" << n.name() << "'";
    const Tensor64& grad = get(ops->data[0]);
    const double lr = get(ops->data[1])[0];
    std::vector<Tensor64*> next;
    for (const Value* o : n.outputs) next.push_back(&out(o));
    auto param = [&](size_t i) -> const Tensor64& { return get(ops->params[i]); };
    if (n.op == OpKind::SgdUpdate) {
      const bool momentum = ops->params.size() > 1;
      sgd_update(n.as<ir::SgdAttrs>(), grad, lr, param(0), momentum ? &param(1) : nullptr, *next[0],
                 momentum ? next[1] : nullptr);
    } else {
      adam_update(n.as<ir::AdamAttrs>(), grad, lr, get(ops->data[2])[0], param(0), param(1),
                  param(2), *next[0], *next[1], *next[2]);
    }
  }

  // Where image 0 of `v` starts in the arena, in elements; each image is
  // dense, and the images lie the value's batch stride apart (dense: one image).
  size_t slot(const Value* v) const {
    const int64_t images = v->type.shape.rank() ? v->type.shape[0] : 1;
    const int64_t span = v->arena_batch_stride && images > 0
                             ? (images - 1) * v->arena_batch_stride + v->bytes() / images
                             : v->bytes();
    CNNC_INTERNAL_ASSERT(v->arena_offset.has_value() && *v->arena_offset % 4 == 0 &&
                         v->arena_batch_stride % 4 == 0 &&
                         *v->arena_offset + span <= *g_.arena_bytes)
        << "value '" << v->name << "' has no valid arena offset";
    return static_cast<size_t>(*v->arena_offset / 4);
  }
  // Calls f(arena element, tensor element, count) for each dense run of `v`.
  template <class F>
  void runs(const Value* v, size_t elements, F f) const {
    const size_t first = slot(v);
    if (!v->arena_batch_stride) return f(first, size_t{0}, elements);
    const size_t images = static_cast<size_t>(v->type.shape[0]), per = elements / images;
    for (size_t n = 0; n < images; ++n)
      f(first + n * static_cast<size_t>(v->arena_batch_stride / 4), n * per, per);
  }
  Tensor64 load(const Value* v) const {
    Tensor64 t(v->type.shape);
    runs(v, t.data.size(), [&](size_t at, size_t from, size_t count) {
      std::copy_n(arena_.begin() + static_cast<std::ptrdiff_t>(at), count,
                  t.data.begin() + static_cast<std::ptrdiff_t>(from));
    });
    return t;
  }
  void store(const Value* v, const Tensor64& t) {
    runs(v, t.data.size(), [&](size_t at, size_t from, size_t count) {
      std::copy_n(t.data.begin() + static_cast<std::ptrdiff_t>(from), count,
                  arena_.begin() + static_cast<std::ptrdiff_t>(at));
    });
  }

  const ir::Graph& g_;
  RunOptions opts_;
  std::vector<Tensor64> inputs_;
  std::vector<Tensor64> params_;  ///< the graph's parameters in double (reserved: stable)
  std::vector<double> arena_;
  std::unordered_map<const Value*, const Tensor64*> bound_;  ///< inputs and parameters
  std::unordered_map<const Value*, Tensor64> owned_;         ///< computed results still needed
  std::unordered_map<const Value*, int> uses_;
  std::vector<std::pair<std::string, Tensor64>> state_;
};

}  // namespace

RunResult64 run_f64(const ir::Graph& g, const std::vector<Tensor64>& inputs, const RunOptions& opts,
                    const Params64* params) {
  return Interpreter(g, inputs, opts, params).run();
}

RunResult run(const ir::Graph& g, const std::vector<ir::Tensor>& inputs, const RunOptions& opts) {
  std::vector<Tensor64> in;
  for (const ir::Tensor& t : inputs) in.push_back(ir::convert<double>(t));
  RunResult64 r64 = Interpreter(g, std::move(in), opts, nullptr).run();
  RunResult r;
  for (const Tensor64& t : r64.outputs) r.outputs.push_back(ir::convert<float>(t));
  for (auto& [name, t] : r64.updated_state)
    r.updated_state.emplace_back(name, ir::convert<float>(t));
  return r;
}

}  // namespace cnnc::reference
