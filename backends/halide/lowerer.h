// Internal to the lowering (lower.cpp, lower_training.cpp): the state of one
// graph's lowering and the helpers that place buffers and record calls.
#pragma once

#include <algorithm>
#include <unordered_map>
#include <unordered_set>

#include "backends/halide/lower.h"
#include "ir/analysis.h"
#include "ir/shape_inference.h"
#include "support/internal_error.h"

namespace cnnc::halide::lowering {

using ir::Node;
using ir::OpKind;
using ir::Value;

inline constexpr int64_t kMaxStride = (int64_t{1} << 31) - 1;

// Dense geometry of `s` with the given dims (outermost first), innermost first.
inline Geometry dense(std::vector<int64_t> dims_outer_first) {
  Geometry g;
  g.rank = static_cast<int>(dims_outer_first.size());
  int64_t stride = 1;
  for (int i = 0; i < g.rank; ++i) {
    int64_t e = dims_outer_first[static_cast<size_t>(g.rank - 1 - i)];
    g.extent[static_cast<size_t>(i)] = static_cast<int32_t>(e);
    g.stride[static_cast<size_t>(i)] = static_cast<int32_t>(stride);
    stride *= e;
  }
  return g;
}

// [outer, axis, inner] around dim `axis` of a shape.
inline std::vector<int64_t> around(const ir::Shape& s, int64_t axis) {
  int64_t outer = 1, inner = 1;
  for (int i = 0; i < s.rank(); ++i) {
    if (i < axis) outer *= s[i];
    if (i > axis) inner *= s[i];
  }
  return {outer, s[static_cast<int>(axis)], inner};
}

// The [inner, C, outer] view elementwise kernels take: all elements as one row.
inline Geometry row(const Value* v) { return dense({1, 1, v->type.shape.elements().value()}); }

// A part of a concatenation: its own dense [inner, len, outer] geometry, the
// same slice seen with the strides of the whole, and its byte offset in it.
struct ConcatSlice {
  Geometry part, in_whole;
  int64_t offset = 0;
};
template <class Values>
std::vector<ConcatSlice> concat_slices(const Value* whole, int64_t axis, const Values& parts) {
  if (axis < 0) axis += whole->type.shape.rank();
  const std::vector<int64_t> ow = around(whole->type.shape, axis);  // outer, total, inner
  std::vector<ConcatSlice> out;
  int64_t start = 0;
  for (const Value* v : parts) {
    const std::vector<int64_t> op = around(v->type.shape, axis);
    ConcatSlice sl;
    sl.part = sl.in_whole = dense(op);
    sl.in_whole.stride = {1, static_cast<int32_t>(ow[2]), static_cast<int32_t>(ow[1] * ow[2]), 0};
    sl.offset = start * ow[2] * 4;
    start += op[1];
    out.push_back(sl);
  }
  return out;
}

class Lowerer {
 public:
  Lowerer(const ir::Graph& g, LoweredModel& out, DiagnosticEngine& diag,
          const LowerOptions& options)
      : g_(g), out_(out), diag_(diag), options_(options) {}

  bool run() {
    out_.name = g_.name;
    CNNC_INTERNAL_ASSERT(g_.arena_bytes.has_value()) << "lowering a graph without a memory plan";
    out_.arena_bytes = *g_.arena_bytes;
    training_ = g_.is_training();
    out_.training = training_;
    for (size_t i = 0; i < g_.inputs().size(); ++i)
      input_index_[g_.inputs()[i]] = static_cast<int32_t>(i);
    for (const Value* v : g_.inputs()) out_.inputs.push_back(info(*v));
    for (const auto& n : g_.nodes())
      for (const Value* v : n->inputs) used_.insert(v);
    for (const Value* v : g_.outputs()) {
      used_.insert(v);
      // The optimizer's results are written over the parameters they update.
      if (v->producer && ir::op_info(v->producer->op).role == ir::OpRole::Update) continue;
      if (v->kind != ir::ValueKind::Result) {
        diag_.error(v->loc,
                    "output '" + v->name + "' is a network input: there is nothing to compute");
        return false;
      }
      out_.outputs.push_back(info(*v));
    }
    ir::GraphStats stats = ir::analyze(g_);
    for (const ir::LayerStats& row : stats.rows)
      if (row.node) {
        // A product's backward op is two products (dx, dW), each about the
        // forward's cost: each kernel is credited half the op's, so the
        // profile's GFLOP/s are each kernel's own.
        const bool products =
            row.node->op == ir::OpKind::Conv2dGrad || row.node->op == ir::OpKind::LinearGrad;
        (products ? product_flops_ : flops_)[row.node] = products ? row.flops / 2 : row.flops;
      }
    if (!training_) choose_layouts();  // training kernels read the IR's layouts
    for (const auto& n : g_.nodes())
      if (!(training_ ? training_node(*n) : node(*n))) return false;
    return !diag_.has_errors();
  }

 private:
  // Values kept in the blocked layout (channel_block) between convolutions:
  // produced by a blocked convolution, or by a max/average pooling or a
  // concatenation along channels of blocked values, and read only by blocked
  // convolutions (as their data input or residual) or by such poolings and
  // concatenations. Everything else is NCHW, so layout conversions happen
  // only where a blocked chain meets another op.
  // A concatenation whose parts' channel counts are multiples of the whole's
  // block joins whole blocks: part k of image n is the same contiguous bytes
  // at the same offset in either layout, so its slices (built in place or
  // copied) do not depend on the layout (SqueezeNet's Fire modules).
  void choose_layouts() {
    auto blocked_conv = [](const Node& n) {
      return n.op == OpKind::Conv2d && n.output()->type.shape.rank() == 4 &&
             conv_block(n.as<ir::Conv2dAttrs>(), n.inputs[0]->type.shape[1]) > 0;
    };
    auto block_keeping = [](const Node& n) {
      const Value* y = n.output();
      if ((n.op == OpKind::MaxPool || n.op == OpKind::AvgPool) && y->type.shape.rank() == 4)
        return channel_block(y->type.shape[1]) > 0;
      if (n.op != OpKind::Concat || y->type.shape.rank() != 4) return false;
      int64_t axis = n.as<ir::ConcatAttrs>().axis;
      if (axis < 0) axis += 4;
      const int B = channel_block(y->type.shape[1]);
      if (axis != 1 || B == 0) return false;
      for (const Value* v : n.inputs)
        if (v->type.shape.rank() != 4 || channel_block(v->type.shape[1]) != B) return false;
      return true;
    };
    for (const auto& n : g_.nodes())
      if (blocked_conv(*n) || block_keeping(*n)) blocked_.insert(n->output());
    for (const Value* v : g_.outputs()) blocked_.erase(v);
    // Dropping one value's blocks can drop a pooling's or concatenation's
    // (its output when an input is NCHW, its inputs when its output is): to
    // a fixed point.
    for (bool changed = true; changed;) {
      changed = false;
      for (const auto& n : g_.nodes()) {
        auto ops = ir::split_operands(*n);
        const bool keeps = block_keeping(*n) && blocked_.count(n->output());
        for (const Value* v : n->inputs) {
          if (!blocked_.count(v)) {
            if (keeps) changed |= blocked_.erase(n->output()) > 0;
            continue;
          }
          const bool read_blocked =
              keeps || (blocked_conv(*n) && ops && (ops->data[0] == v || ops->residual == v) &&
                        std::count(n->inputs.begin(), n->inputs.end(), v) ==
                            (ops->data[0] == v) + (ops->residual == v));
          if (!read_blocked) changed |= blocked_.erase(v) > 0;
        }
      }
    }
  }

  // The geometry of a convolution's activation: NCHW, or [B·W, H, C/B, N]
  // for a blocked value; `flat` presents its H·W pixels as one row.
  Geometry activation(const Value* v, bool flat) {
    const ir::Shape& s = v->type.shape;
    if (s.rank() != 4) return dense(s.dims);
    const int64_t B = blocked_.count(v) ? channel_block(s[1]) : 1;
    const int64_t H = flat ? 1 : s[2], W = flat ? s[2] * s[3] : s[3];
    return placed(v, dense({s[0], s[1] / B, H, W * B}));
  }

  // `g` views `v` densely. A value with a batch stride (a slice of a
  // concatenation built in place, plan-memory) is seen with its images that
  // far apart: the view's dim that steps whole images takes the stride.
  static Geometry placed(const Value* v, Geometry g) {
    if (!v->arena_batch_stride) return g;
    const int64_t images = v->type.shape[0], image = v->type.shape.elements().value() / images;
    for (int d = g.rank - 1; d >= 0; --d) {
      const auto i = static_cast<size_t>(d);
      if (g.stride[i] == image && g.extent[i] == images) {
        g.stride[i] = static_cast<int32_t>(v->arena_batch_stride / 4);
        return g;
      }
    }
    CNNC_INTERNAL_ERROR() << "value '" << v->name << "' has a batch stride but is viewed as "
                          << g.str() << ", which merges its images";
    return g;
  }

  // The [inner, 1, images] view of an elementwise op's values when one of
  // them has a batch stride, else one row of all elements.
  static Geometry image_rows(const Value* y, const std::vector<const Value*>& values) {
    const int64_t all = y->type.shape.elements().value();
    for (const Value* v : values)
      if (v->arena_batch_stride) return dense({y->type.shape[0], 1, all / y->type.shape[0]});
    return dense({1, 1, all});
  }

  TensorInfo info(const Value& v) {
    TensorInfo t;
    t.name = v.name;
    t.shape = v.type.shape.dims;
    t.bytes = v.bytes();
    t.arena_offset = v.arena_offset.value_or(0);
    return t;
  }

  bool check_strides(const Node& n, const Geometry& g) {
    int64_t span = 1;
    for (int i = 0; i < g.rank; ++i)
      span = std::max<int64_t>(
          span, int64_t{g.stride[static_cast<size_t>(i)]} * g.extent[static_cast<size_t>(i)]);
    if (span > kMaxStride) {
      diag_.error(
          n.loc,
          "layer '" + n.name() + "': a tensor of " + std::to_string(span) +
              " elements is too large for compiled kernels (32-bit extents); use a smaller batch",
          {}, ExitCode::ResourceLimit);
      return false;
    }
    return true;
  }

  int32_t buffer(BufferRef b) {
    for (size_t i = 0; i < out_.buffers.size(); ++i)
      if (out_.buffers[i] == b) return static_cast<int32_t>(i);
    out_.buffers.push_back(b);
    return static_cast<int32_t>(out_.buffers.size() - 1);
  }

  // A value (input or op result) seen through `geometry`, `extra` bytes in.
  int32_t view(const Value* v, Geometry geometry, int64_t extra = 0) {
    BufferRef b;
    b.geometry = geometry;
    if (v->kind == ir::ValueKind::Input) {
      b.space = Space::Input;
      b.index = input_index_.at(v);
      b.offset = extra;
    } else {
      CNNC_INTERNAL_ASSERT(v->kind == ir::ValueKind::Result && v->arena_offset.has_value())
          << "value '" << v->name << "' has no place in the arena";
      b.space = Space::Arena;
      b.offset = *v->arena_offset + extra;
      CNNC_INTERNAL_ASSERT(
          !v->arena_batch_stride ||
          std::count(geometry.stride.begin(), geometry.stride.end(), v->arena_batch_stride / 4) > 0)
          << "value '" << v->name << "' has a batch stride, viewed densely as " << geometry.str();
    }
    return buffer(b);
  }

  // A weight tensor of the kernel's layout, stored once per name.
  int32_t weight(const std::string& name, std::vector<int64_t> shape, std::vector<float> data,
                 Geometry geometry) {
    auto it = weight_index_.find(name);
    int64_t offset;
    if (it != weight_index_.end()) {
      offset = out_.weights[it->second].offset;
    } else {
      WeightTensor w;
      w.name = name;
      w.shape = std::move(shape);
      w.data = std::move(data);
      w.offset = out_.weights_bytes;
      int64_t bytes = geometry.elements() * 4;
      out_.weights_bytes += (bytes + 63) / 64 * 64;
      weight_index_[name] = out_.weights.size();
      offset = w.offset;
      out_.weights.push_back(std::move(w));
    }
    BufferRef b;
    b.space = Space::Weights;
    b.offset = offset;
    b.geometry = geometry;
    return buffer(b);
  }

  int32_t param(const Value* p, Geometry geometry) {
    return weight(p->name, p->type.shape.dims, p->data ? p->data->data : std::vector<float>{},
                  geometry);
  }

  void call(const Node& n, const KernelSpec& spec, std::vector<int32_t> args,
            std::string layer = "") {
    int index = -1;
    for (size_t i = 0; i < out_.specs.size(); ++i)
      if (out_.specs[i].key() == spec.key()) index = static_cast<int>(i);
    if (index < 0) {
      out_.specs.push_back(spec);
      index = static_cast<int>(out_.specs.size() - 1);
    }
    KernelCall c;
    c.layer = layer.empty() ? n.name() : layer;
    c.op = ir::op_name(n.op);
    if (spec.winograd) c.op += "/winograd";  // profiles name the algorithm
    c.spec = index;
    c.buffers = std::move(args);
    const bool product = spec.family == Family::ConvGradInput ||
                         spec.family == Family::ConvGradWeight || spec.family == Family::Linear;
    if (product && product_flops_.count(&n)) {
      c.flops = product_flops_.at(&n);
    } else {
      c.flops = flops_.count(&n) ? flops_.at(&n) : 0;
      flops_.erase(&n);  // a node lowered to several kernels counts once
    }
    out_.calls.push_back(std::move(c));
  }

  // An elementwise kernel over [inner, C, outer] views of the inputs and output.
  void elementwise(const Node& n, std::vector<const Value*> ins, ElementwiseOp op, ir::Epilogue ep,
                   double scale = 1.0, std::vector<int32_t> params = {}) {
    const Value* y = n.output();
    // Outermost first: one row of all elements (a row per image when they
    // lie apart), so the kernel vectorises it.
    std::vector<const Value*> values = ins;
    values.push_back(y);
    Geometry g = image_rows(y, values);
    if (op == ElementwiseOp::ScaleShift) g = dense(around(y->type.shape, 1));
    KernelSpec s;
    s.family = Family::Elementwise;
    s.ew = op;
    s.scale = scale;
    s.inputs = static_cast<int>(ins.size());
    s.epilogue = ep;
    std::vector<int32_t> args;
    for (const Value* x : ins) {
      s.args.push_back(placed(x, g));
      args.push_back(view(x, s.args.back()));
    }
    for (int32_t p : params) {
      s.args.push_back(out_.buffers[static_cast<size_t>(p)].geometry);
      args.push_back(p);
    }
    s.args.push_back(placed(y, g));
    args.push_back(view(y, s.args.back()));
    call(n, s, std::move(args));
  }

  bool node(const Node& n);
  /// Training graphs: losses, backward ops, updates, and the forward ops whose
  /// training form differs (lower_training.cpp).
  bool training_node(const Node& n);
  // Helpers defined in lower_training.cpp (the forward lowering uses them too).
  /// A call of `s` with these (geometry, buffer) arguments, the output last.
  void kernel(const Node& n, KernelSpec s, std::vector<std::pair<Geometry, int32_t>> args,
              const std::string& layer = "");
  void copy(const Node& n, const Value* from, Geometry gf, const Value* to, Geometry gt,
            const std::string& layer = "");
  void channel_sum(const Node& n, const Value* dy, const Value* out);
  /// The dropout seed, an input the lowering adds (two floats holding 64 bits).
  int32_t seed_view();

  const ir::Graph& g_;
  LoweredModel& out_;
  DiagnosticEngine& diag_;
  std::unordered_map<const Value*, int32_t> input_index_;
  std::unordered_map<std::string, size_t> weight_index_;
  std::unordered_set<const Value*> blocked_;
  std::unordered_map<const Node*, int64_t> flops_;
  std::unordered_map<const Node*, int64_t> product_flops_;  ///< per dx or dW kernel
  bool training_ = false;
  LowerOptions options_;
  std::unordered_set<const Value*> used_;     ///< read by a node or an output
  std::unordered_set<const Value*> updated_;  ///< parameters already overwritten by their update
};

}  // namespace cnnc::halide::lowering
