// Converters of the ONNX ops cnnc supports, one per op type, onto the IR's
// ops. Constants that the IR keeps as parameters (weights, biases, batch-norm
// statistics) must be initializers or Constant outputs; constant operands of
// Add/Mul fold into the convolution or linear layer that produces the other
// operand; a zero Pad folds into the Conv or AveragePool that consumes it.
#include <algorithm>
#include <cmath>
#include <limits>
#include <map>

#include "frontend/onnx_import.h"
#include "frontend/spec_attrs.h"

namespace cnnc::frontend {

namespace {

constexpr int64_t kMaxAttr = (int64_t{1} << 31) - 1;

bool is_onnx_float_default(double v, double dflt) {
  return std::fabs(v - dflt) <= 1e-6 * std::fabs(dflt);
}

// ---------------------------------------------------------------- windows

struct Window {
  ir::Hw kernel;
  ir::Hw stride{1, 1};
  ir::Hw dilation{1, 1};
  ir::Pad4 pad;
};

// Reads a pair attribute ([h, w]) whose values must be in [lo, kMaxAttr].
bool read_pair(OnnxImporter& m, const char* name, int64_t lo, ir::Hw& out, bool& given) {
  auto v = m.attr_ints(name, 2);
  if (!v) return false;
  given = !v->empty();
  if (v->empty()) return true;
  if (v->size() != 2)
    return m.fail("attribute '" + std::string(name) + "' has " + std::to_string(v->size()) +
                  " values, expected 2 (cnnc supports 2-D windows)");
  for (int64_t x : *v)
    if (x < lo || x > kMaxAttr)
      return m.fail("attribute '" + std::string(name) + "' value " + std::to_string(x) +
                    " is out of range (" + std::to_string(lo) + "..2147483647)");
  out = ir::Hw{(*v)[0], (*v)[1]};
  return true;
}

// kernel_shape, strides, dilations, pads and auto_pad of Conv and the pools.
// `weight_kernel`: the kernel the Conv's weight implies (kernel_shape optional).
std::optional<Window> read_window(OnnxImporter& m, const ir::Shape& x,
                                  std::optional<ir::Hw> weight_kernel) {
  Window w;
  bool has_kernel = false, unused = false, has_pads = false;
  if (!read_pair(m, "kernel_shape", 1, w.kernel, has_kernel) ||
      !read_pair(m, "strides", 1, w.stride, unused) ||
      !read_pair(m, "dilations", 1, w.dilation, unused))
    return std::nullopt;
  if (!has_kernel) {
    if (!weight_kernel) {
      m.fail("attribute 'kernel_shape' is required");
      return std::nullopt;
    }
    w.kernel = *weight_kernel;
  } else if (weight_kernel && !(*weight_kernel == w.kernel)) {
    m.fail("kernel_shape [" + std::to_string(w.kernel.h) + ", " + std::to_string(w.kernel.w) +
           "] disagrees with the weight's [" + std::to_string(weight_kernel->h) + ", " +
           std::to_string(weight_kernel->w) + "]");
    return std::nullopt;
  }
  auto pads = m.attr_ints("pads", 4);
  if (!pads) return std::nullopt;
  if (!pads->empty()) {
    if (pads->size() != 4) {
      m.fail("attribute 'pads' has " + std::to_string(pads->size()) +
             " values, expected 4 (top, left, bottom, right)");
      return std::nullopt;
    }
    for (int64_t p : *pads)
      if (p < 0 || p > kMaxAttr) {
        m.fail("attribute 'pads' value " + std::to_string(p) + " is out of range (0..2147483647)");
        return std::nullopt;
      }
    // ONNX orders pads as all begins, then all ends: [top, left, bottom, right].
    w.pad = ir::Pad4{(*pads)[0], (*pads)[2], (*pads)[1], (*pads)[3]};
    has_pads = true;
  }
  auto auto_pad = m.attr_string("auto_pad", "NOTSET");
  if (!auto_pad) return std::nullopt;
  if (*auto_pad == "NOTSET" || *auto_pad == "VALID") {
    if (*auto_pad == "VALID") w.pad = ir::Pad4{};
  } else if (*auto_pad == "SAME_UPPER" || *auto_pad == "SAME_LOWER") {
    if (has_pads && (w.pad.total_h() || w.pad.total_w())) {
      m.fail("auto_pad " + *auto_pad + " and pads are mutually exclusive");
      return std::nullopt;
    }
    w.pad = same_upper_pad(x[2], x[3], w.kernel, w.stride, w.dilation);
    if (*auto_pad == "SAME_LOWER") {  // the odd pixel goes to the top/left
      std::swap(w.pad.top, w.pad.bottom);
      std::swap(w.pad.left, w.pad.right);
    }
  } else {
    m.fail("auto_pad '" + auto_pad->substr(0, 40) +
           "' is not one of NOTSET, SAME_UPPER, SAME_LOWER, VALID");
    return std::nullopt;
  }
  return w;
}

bool need_rank4(OnnxImporter& m, const ir::Value* x) {
  if (x->type.shape.rank() == 4) return true;
  return m.fail("input '" + m.node->input(0) + "' has rank " +
                std::to_string(x->type.shape.rank()) +
                "; cnnc supports 2-D windows on N, C, H, W tensors");
}

// Takes a pending zero Pad of input 0 into `pad` (summed with the op's own).
ir::Value* padded_data(OnnxImporter& m, ir::Pad4& pad, bool& took) {
  const OnnxValue* in = m.input(0);
  took = false;
  if (in && in->padded && in->v) {
    pad.top += in->pad.top;
    pad.bottom += in->pad.bottom;
    pad.left += in->pad.left;
    pad.right += in->pad.right;
    took = true;
    return in->v;
  }
  return m.data(0);
}

// ---------------------------------------------------------------- helpers

// Parameter values of a node by its IR parameter order.
ir::Value* param(ir::Node* n, size_t k) {
  auto ps = GraphBuilder::params_of(*n);
  return k < ps.size() ? ps[k] : nullptr;
}

bool same_dims(const OnnxConst& c, const ir::Shape& s) { return c.dims == s.dims; }

bool check_param_dims(OnnxImporter& m, const OnnxConst& c, const ir::Value* p,
                      const std::string& role) {
  if (same_dims(c, p->type.shape)) return true;
  return m.fail(role + " '" + m.node->input(1) + "' is " + dims_str(c.dims) + ", the node needs " +
                dims_str(p->type.shape.dims));
}

// Output 0 names the same tensor as input 0. A graph output that would be a
// graph input itself gets a copy (an inference-time dropout of `rate`, the
// identity), so that the library has something to write.
bool alias(OnnxImporter& m, double rate = 0.0) {
  const OnnxValue* in = m.input(0);
  if (!in) return m.fail("input 0 is missing");
  if (in->v && !in->padded && in->v->kind == ir::ValueKind::Input && m.node->output_size() > 0 &&
      m.is_graph_output.count(m.node->output(0))) {
    ir::DropoutAttrs a;
    a.rate = rate;
    ir::Node* n = m.emit(ir::OpKind::Dropout, a, {in->v});
    if (!n) return false;
    m.define(0, computed(n->output()));
    return true;
  }
  m.define(0, *in);
  return true;
}

bool identity(OnnxImporter& m) { return alias(m); }

// ---------------------------------------------------------------- ops

bool conv(OnnxImporter& m) {
  ir::Value* x0 = m.input(0) && m.input(0)->padded ? m.input(0)->v : m.data(0);
  if (!x0 || !need_rank4(m, x0)) return false;
  const OnnxConst* w = m.constant(1, "weight");
  if (!w) return false;
  if (w->dims.size() != 4)
    return m.fail("weight '" + m.node->input(1) + "' is " + dims_str(w->dims) + ": kernel has " +
                  std::to_string(static_cast<int>(w->dims.size()) - 2) +
                  " spatial dims, input has 2");
  auto win = read_window(m, x0->type.shape, ir::Hw{w->dims[2], w->dims[3]});
  auto group = m.attr_int("group", 1);
  if (!win || !group) return false;
  if (*group < 1 || *group > kMaxAttr) return m.fail("group " + std::to_string(*group) + " < 1");
  ir::Conv2dAttrs a;
  a.filters = w->dims[0];
  a.kernel = win->kernel;
  a.stride = win->stride;
  a.dilation = win->dilation;
  a.pad = win->pad;
  a.groups = *group;
  const OnnxValue* bias_in = m.input(2);
  a.bias = bias_in != nullptr;
  bool took = false;
  ir::Value* x = padded_data(m, a.pad, took);
  if (!x) return false;
  const OnnxConst* bias = a.bias ? m.constant(2, "bias") : nullptr;
  if (a.bias && !bias) return false;
  ir::Node* n = m.emit(ir::OpKind::Conv2d, a, {x});
  if (!n) return false;
  if (!check_param_dims(m, *w, param(n, 0), "weight") || !m.set_param(param(n, 0), w->f, "weight"))
    return false;
  if (bias) {
    if (bias->elements() != a.filters)
      return m.fail("bias '" + m.node->input(2) + "' has " + std::to_string(bias->elements()) +
                    " values, the node has " + std::to_string(a.filters) + " filters");
    if (!m.set_param(param(n, 1), bias->f, "bias")) return false;
  }
  m.define(0, computed(n->output()));
  return true;
}

bool batch_norm(OnnxImporter& m) {
  ir::Value* x = m.data(0);
  if (!x) return false;
  auto training = m.attr_int("training_mode", 0);
  if (!training) return false;
  if (*training != 0 || m.output_used(1) || m.output_used(2))
    return m.fail(
        "training_mode=1 (batch statistics, running-statistics outputs) is not "
        "supported when importing; export the model in eval mode");
  auto eps = m.attr_float("epsilon", 1e-5);
  auto momentum = m.attr_float("momentum", 0.9);
  if (!eps || !momentum) return false;
  if (!(*eps > 0)) return m.fail("epsilon must be > 0");
  ir::BatchNormAttrs a;
  a.eps = *eps;
  // ONNX: running = running·momentum + batch·(1 − momentum); the IR (as
  // PyTorch) weights the batch by `momentum`.
  a.momentum = std::clamp(1.0 - *momentum, 0.0, 1.0);
  const char* roles[] = {"scale", "bias", "mean", "variance"};
  const OnnxConst* cs[4];
  for (int k = 0; k < 4; ++k)
    if (!(cs[k] = m.constant(k + 1, roles[k]))) return false;
  ir::Node* n = m.emit(ir::OpKind::BatchNorm, a, {x});
  if (!n) return false;
  for (int k = 0; k < 4; ++k) {
    ir::Value* p = param(n, static_cast<size_t>(k));
    if (cs[k]->elements() != p->type.shape.elements())
      return m.fail(std::string(roles[k]) + " '" + m.node->input(k + 1) + "' has " +
                    std::to_string(cs[k]->elements()) + " values, the input has " +
                    std::to_string(p->type.shape[0]) + " channels");
    if (!m.set_param(p, cs[k]->f, roles[k])) return false;
  }
  m.define(0, computed(n->output()));
  return true;
}

bool simple(OnnxImporter& m, ir::OpKind op, ir::Attrs attrs = ir::NoAttrs{}) {
  ir::Value* x = m.data(0);
  if (!x) return false;
  ir::Node* n = m.emit(op, std::move(attrs), {x});
  if (!n) return false;
  m.define(0, computed(n->output()));
  return true;
}

bool leaky_relu(OnnxImporter& m) {
  auto alpha = m.attr_float("alpha", 0.01);
  if (!alpha) return false;
  ir::LeakyReluAttrs a;
  a.alpha = *alpha;
  return simple(m, ir::OpKind::LeakyRelu, a);
}

bool elu(OnnxImporter& m) {
  auto alpha = m.attr_float("alpha", 1.0);
  if (!alpha) return false;
  ir::EluAttrs a;
  a.alpha = *alpha;
  return simple(m, ir::OpKind::Elu, a);
}

bool selu(OnnxImporter& m) {
  const double kAlpha = 1.67326319217681884765625, kGamma = 1.05070102214813232421875;
  auto alpha = m.attr_float("alpha", kAlpha);
  auto gamma = m.attr_float("gamma", kGamma);
  if (!alpha || !gamma) return false;
  if (!is_onnx_float_default(*alpha, kAlpha) || !is_onnx_float_default(*gamma, kGamma))
    return m.fail("Selu with alpha " + std::to_string(*alpha) + ", gamma " +
                  std::to_string(*gamma) +
                  " is not supported (cnnc's selu has the standard constants)");
  return simple(m, ir::OpKind::Selu);
}

bool gelu(OnnxImporter& m) {
  auto approx = m.attr_string("approximate", "none");
  if (!approx) return false;
  if (*approx != "none")
    return m.fail("Gelu approximate='" + approx->substr(0, 20) +
                  "' is not supported (cnnc's gelu is the exact erf form)");
  return simple(m, ir::OpKind::Gelu);
}

bool clip(OnnxImporter& m) {
  const double lim = std::numeric_limits<float>::max();
  ir::ClipAttrs a;
  if (m.opset < 11) {
    auto lo = m.attr_float("min", -lim), hi = m.attr_float("max", lim);
    if (!lo || !hi) return false;
    a.min = *lo;
    a.max = *hi;
  } else {
    a.min = -lim;
    a.max = lim;
    for (int k = 1; k <= 2; ++k) {
      if (!m.input(k)) continue;
      const OnnxConst* c = m.constant(k, k == 1 ? "min" : "max");
      if (!c) return false;
      if (c->elements() != 1)
        return m.fail(std::string(k == 1 ? "min" : "max") + " must be a scalar, got " +
                      dims_str(c->dims));
      (k == 1 ? a.min : a.max) = c->at(0);
    }
  }
  if (a.min > a.max)
    return m.fail("min " + std::to_string(a.min) + " is greater than max " + std::to_string(a.max));
  return simple(m, ir::OpKind::Clip, a);
}

bool pool(OnnxImporter& m, bool max) {
  const OnnxValue* in = m.input(0);
  ir::Value* x0 = in && in->padded ? in->v : m.data(0);
  if (!x0 || !need_rank4(m, x0)) return false;
  auto win = read_window(m, x0->type.shape, std::nullopt);
  auto ceil = m.attr_int("ceil_mode", 0);
  if (!win || !ceil) return false;
  if (!(win->dilation == ir::Hw{1, 1}))
    return m.fail("dilations other than 1 are not supported for pooling");
  if (max && m.output_used(1)) return m.fail("the Indices output is not supported");
  ir::PoolAttrs p;
  p.kernel = win->kernel;
  p.stride = win->stride;
  p.pad = win->pad;
  p.ceil_mode = *ceil != 0;
  ir::Value* x = nullptr;
  ir::Node* n = nullptr;
  if (max) {
    if (in && in->padded)
      return m.fail("takes the zero padding of " + in->pad_desc +
                    ", which max pooling cannot absorb exactly (it pads with -inf)");
    x = m.data(0);
    if (!x || !(n = m.emit(ir::OpKind::MaxPool, p, {x}))) return false;
  } else {
    auto cip = m.attr_int("count_include_pad", 0);
    if (!cip) return false;
    ir::AvgPoolAttrs a;
    a.count_include_pad = *cip != 0;
    bool took = false;
    ir::Pad4 own = p.pad;
    x = padded_data(m, p.pad, took);
    if (!x) return false;
    // Padding made explicit by Pad counts in the average; exact only when the
    // pool counts its own padding too, or has none.
    if (took && !a.count_include_pad && (own.total_h() || own.total_w()))
      return m.fail("takes the zero padding of " + in->pad_desc +
                    " and has its own with count_include_pad=0: cannot fold exactly");
    if (took) a.count_include_pad = true;
    a.pool = p;
    if (!(n = m.emit(ir::OpKind::AvgPool, a, {x}))) return false;
  }
  m.define(0, computed(n->output()));
  return true;
}

bool global_avg_pool(OnnxImporter& m) {
  ir::Value* x = m.data(0);
  if (!x || !need_rank4(m, x)) return false;
  return simple(m, ir::OpKind::GlobalAvgPool);
}

bool lrn(OnnxImporter& m) {
  auto size = m.attr_int("size", 0);
  auto alpha = m.attr_float("alpha", 1e-4), beta = m.attr_float("beta", 0.75),
       bias = m.attr_float("bias", 1.0);
  if (!size || !alpha || !beta || !bias) return false;
  if (*size < 1 || *size > kMaxAttr) return m.fail("attribute 'size' must be ≥ 1");
  if (!(*bias > 0)) return m.fail("attribute 'bias' must be > 0");
  ir::LrnAttrs a;
  a.size = *size;
  a.alpha = *alpha;
  a.beta = *beta;
  a.k = *bias;
  return simple(m, ir::OpKind::Lrn, a);
}

bool dropout(OnnxImporter& m) {
  if (m.output_used(1)) return m.fail("the mask output is not supported");
  double rate = 0.5;
  if (m.opset < 12) {
    auto r = m.attr_float("ratio", 0.5);
    if (!r) return false;
    rate = *r;
  } else if (m.input(1)) {
    const OnnxConst* r = m.constant(1, "ratio");
    if (!r) return false;
    if (r->elements() != 1) return m.fail("ratio must be a scalar");
    rate = r->at(0);
  }
  if (!(rate >= 0 && rate < 1))
    return m.fail("ratio " + std::to_string(rate) + " is not in [0, 1)");
  if (m.opset >= 12 && m.input(2)) {
    const OnnxConst* t = m.constant(2, "training_mode");
    if (!t) return false;
    if (t->elements() == 1 && t->at(0) != 0)
      return m.fail("training_mode=1 is not supported when importing; export in eval mode");
  }
  return alias(m, rate);  // inference: the identity
}

// Gemm and MatMul: A (computed, [M, K]) times a constant → linear.
bool gemm_like(OnnxImporter& m, bool is_gemm) {
  ir::Value* a = m.data(0);
  if (!a) return false;
  if (a->type.shape.rank() != 2)
    return m.fail("input A has rank " + std::to_string(a->type.shape.rank()) +
                  "; only 2-D matrix products are supported");
  const OnnxConst* bm = m.constant(1, "B");
  if (!bm) return false;
  int64_t trans_a = 0, trans_b = 0;
  double alpha = 1, beta = 1;
  if (is_gemm) {
    auto ta = m.attr_int("transA", 0), tb = m.attr_int("transB", 0);
    auto al = m.attr_float("alpha", 1.0), be = m.attr_float("beta", 1.0);
    if (!ta || !tb || !al || !be) return false;
    trans_a = *ta, trans_b = *tb, alpha = *al, beta = *be;
  }
  if (trans_a) return m.fail("transA=1 on a computed A is not supported");
  if (bm->dims.size() != 2) return m.fail("B must be 2-D, got " + dims_str(bm->dims));
  int64_t k = a->type.shape[1];
  int64_t rows = trans_b ? bm->dims[1] : bm->dims[0];
  int64_t units = trans_b ? bm->dims[0] : bm->dims[1];
  if (rows != k)
    return m.fail("B " + dims_str(bm->dims) + (trans_b ? " (transposed)" : "") +
                  " does not match A's " + std::to_string(k) + " columns");
  // The IR's linear weight is [units, K] (PyTorch's layout).
  std::vector<float> w(static_cast<size_t>(units * k));
  for (int64_t u = 0; u < units; ++u)
    for (int64_t r = 0; r < k; ++r)
      w[static_cast<size_t>(u * k + r)] = static_cast<float>(
          alpha * bm->f[static_cast<size_t>(trans_b ? u * k + r : r * units + u)]);
  const OnnxConst* c = nullptr;
  if (is_gemm && m.input(2)) {
    if (!(c = m.constant(2, "C"))) return false;
    // C broadcasts to [M, units]; per-unit only.
    bool ok = c->elements() == 1 || c->elements() == units;
    for (size_t d = 0; ok && d + 1 < c->dims.size(); ++d) ok = c->dims[d] == 1;
    if (!ok)
      return m.fail("C " + dims_str(c->dims) +
                    " varies per row; only a per-unit bias (one value or " + std::to_string(units) +
                    ") is supported");
  }
  ir::LinearAttrs la;
  la.units = units;
  la.bias = c != nullptr;
  ir::Node* n = m.emit(ir::OpKind::Linear, la, {a});
  if (!n || !m.set_param(param(n, 0), std::move(w), "weight")) return false;
  if (c) {
    std::vector<float> b(static_cast<size_t>(units));
    for (int64_t u = 0; u < units; ++u)
      b[static_cast<size_t>(u)] = static_cast<float>(beta * c->at(c->elements() == 1 ? 0 : u));
    if (!m.set_param(param(n, 1), std::move(b), "bias")) return false;
  }
  m.define(0, computed(n->output()));
  return true;
}

bool flatten(OnnxImporter& m) {
  ir::Value* x = m.data(0);
  if (!x) return false;
  auto axis = m.attr_int("axis", 1);
  if (!axis) return false;
  int r = x->type.shape.rank();
  int64_t ax = *axis < 0 ? *axis + r : *axis;
  if (ax != 1)
    return m.fail("Flatten with axis " + std::to_string(*axis) + " on rank " + std::to_string(r) +
                  " is not supported (only to [N, rest])");
  if (r == 2) return alias(m);
  return simple(m, ir::OpKind::Flatten);
}

bool reshape(OnnxImporter& m) {
  ir::Value* x = m.data(0);
  if (!x) return false;
  const OnnxConst* s = m.constant(1, "shape");
  if (!s) return false;
  auto allowzero = m.attr_int("allowzero", 0);
  if (!allowzero) return false;
  const ir::Shape& in = x->type.shape;
  if (s->is_float || s->dims.size() > 1 || s->elements() > 8)
    return m.fail("shape must be a 1-D integer tensor of at most 8 values");
  std::vector<int64_t> out;
  int infer = -1;
  int64_t known = 1;
  for (int64_t k = 0; k < s->elements(); ++k) {
    int64_t d = s->i[static_cast<size_t>(k)];
    if (d == 0 && !*allowzero) {
      if (k >= in.rank())
        return m.fail("shape copies dim " + std::to_string(k) + " the input lacks");
      d = in[static_cast<int>(k)];
    }
    if (d == -1) {
      if (infer >= 0) return m.fail("shape has two -1 entries");
      infer = static_cast<int>(k);
    } else if (d < 1) {
      return m.fail("shape entry " + std::to_string(d) + " is not supported");
    } else {
      known *= d;
    }
    out.push_back(d);
  }
  int64_t total = in.elements().value_or(0);
  if (infer >= 0) {
    if (known == 0 || total % known) return m.fail("shape " + dims_str(out) + " does not fit");
    out[static_cast<size_t>(infer)] = total / known;
  }
  int64_t prod = 1;
  for (int64_t d : out) prod *= d;
  if (prod != total) return m.fail("cannot reshape " + dims_str(in.dims) + " to " + dims_str(out));
  if (out == in.dims) return alias(m);
  if (out.size() == 2 && out[0] == in[0]) return simple(m, ir::OpKind::Flatten);
  return m.fail("Reshape of " + dims_str(in.dims) + " to " + dims_str(out) +
                " is not supported (only to [N, rest])");
}

bool concat(OnnxImporter& m) {
  auto axis = m.attr_int("axis", m.opset < 11 ? 1 : 0);
  if (!axis) return false;
  if (m.opset >= 4 && !m.attr("axis")) return m.fail("attribute 'axis' is required");
  std::vector<ir::Value*> ins;
  for (int k = 0; k < m.node->input_size(); ++k) {
    ir::Value* v = m.data(k);
    if (!v) return false;
    ins.push_back(v);
  }
  if (ins.size() == 1) return alias(m);
  ir::ConcatAttrs a;
  a.axis = *axis;
  ir::Node* n = m.emit(ir::OpKind::Concat, a, ins);
  if (!n) return false;
  m.define(0, computed(n->output()));
  return true;
}

// Folds `x ⊙ c` (mul) or `x + c` into the conv or linear layer producing x:
// c must be one value or one per channel, and x used by nothing else.
bool fold_constant(OnnxImporter& m, int data_k, int const_k, bool mul) {
  const OnnxConst* c = m.constant(const_k, "constant");
  ir::Value* x = m.data(data_k);
  if (!x || !c) return false;
  const char* what = mul ? "multiplying by" : "adding";
  ir::Node* p = x->producer;
  std::string xname = m.node->input(data_k);
  if (!p || (p->op != ir::OpKind::Conv2d && p->op != ir::OpKind::Linear))
    return m.fail(std::string(what) +
                  " a constant is supported only right after a Conv, Gemm or MatMul "
                  "(it folds into its weights), not on '" +
                  xname + "'");
  if (m.use_count(xname) != 1)
    return m.fail(std::string(what) + " a constant folds into the producer of '" + xname +
                  "' only when nothing else uses it");
  const ir::Shape& s = x->type.shape;
  int64_t channels = s[1];
  // Right-aligned broadcast: every dim 1 except possibly the channel dim.
  int r = s.rank(), cr = static_cast<int>(c->dims.size());
  bool ok = cr <= r;
  for (int d = 0; ok && d < cr; ++d) {
    int od = r - cr + d;
    ok = c->dims[static_cast<size_t>(d)] == 1 ||
         (od == 1 && c->dims[static_cast<size_t>(d)] == channels);
  }
  if (!ok)
    return m.fail("constant " + dims_str(c->dims) +
                  " is neither one value nor one per channel of " + dims_str(s.dims));
  auto value = [&](int64_t ch) { return c->at(c->elements() == 1 ? 0 : ch); };
  auto ps = GraphBuilder::params_of(*p);
  bool has_bias = ps.size() > 1;
  std::vector<float> bias(static_cast<size_t>(channels), 0.0f);
  if (has_bias) bias = ps[1]->data->data;
  if (mul) {
    std::vector<float> w = ps[0]->data->data;
    int64_t per = static_cast<int64_t>(w.size()) / channels;
    for (int64_t ch = 0; ch < channels; ++ch) {
      for (int64_t k = 0; k < per; ++k)
        w[static_cast<size_t>(ch * per + k)] *= static_cast<float>(value(ch));
      bias[static_cast<size_t>(ch)] *= static_cast<float>(value(ch));
    }
    if (!m.set_param(ps[0], std::move(w), "weight")) return false;
  } else {
    for (int64_t ch = 0; ch < channels; ++ch)
      bias[static_cast<size_t>(ch)] += static_cast<float>(value(ch));
  }
  if (!has_bias && !mul) {
    // The layer gains a bias operand, right after its weight.
    if (auto* cv = std::get_if<ir::Conv2dAttrs>(&p->attrs)) cv->bias = true;
    if (auto* li = std::get_if<ir::LinearAttrs>(&p->attrs)) li->bias = true;
    ir::Value* b =
        m.b.graph().add_param(p->name() + ".bias", {ir::DType::F32, ir::Shape{{channels}}}, p->loc);
    p->inputs.insert(p->inputs.begin() + 2, b);
    ps = GraphBuilder::params_of(*p);
  }
  if (has_bias || !mul) {
    if (!m.set_param(ps[1], std::move(bias), "bias")) return false;
  }
  p->fused.push_back(m.layer_name());
  m.define(0, computed(x));
  return true;
}

bool add_like(OnnxImporter& m, bool is_sum) {
  int n_in = m.node->input_size();
  if (!is_sum && n_in != 2) return m.fail("takes 2 inputs, got " + std::to_string(n_in));
  std::vector<int> consts, vars;
  for (int k = 0; k < n_in; ++k) {
    const OnnxValue* v = m.input(k);
    if (!v) return m.fail("input " + std::to_string(k) + " is missing");
    (v->c ? consts : vars).push_back(k);
  }
  if (vars.empty()) return m.fail("adding constants only is not supported");
  if (!consts.empty()) {
    if (n_in != 2) return m.fail("a Sum with constants must have exactly 2 inputs");
    return fold_constant(m, vars[0], consts[0], false);
  }
  if (n_in == 1) return alias(m);
  std::vector<ir::Value*> ins;
  for (int k : vars) {
    ir::Value* v = m.data(k);
    if (!v) return false;
    if (!ins.empty() && !(v->type.shape == ins[0]->type.shape))
      return m.fail("broadcasting " + dims_str(ins[0]->type.shape.dims) + " with " +
                    dims_str(v->type.shape.dims) +
                    " is not supported (computed operands must have equal shapes)");
    ins.push_back(v);
  }
  ir::Node* n = m.emit(ir::OpKind::Add, ir::AddAttrs{}, ins);
  if (!n) return false;
  m.define(0, computed(n->output()));
  return true;
}

bool mul(OnnxImporter& m) {
  const OnnxValue* a = m.input(0);
  const OnnxValue* b = m.input(1);
  if (!a || !b) return m.fail("takes 2 inputs");
  if (a->c && !b->c) return fold_constant(m, 1, 0, true);
  if (b->c && !a->c) return fold_constant(m, 0, 1, true);
  return m.fail("Mul of two computed tensors is not supported (only by a constant)");
}

bool softmax(OnnxImporter& m) {
  ir::Value* x = m.data(0);
  if (!x) return false;
  int r = x->type.shape.rank();
  auto axis = m.attr_int("axis", m.opset >= 13 ? -1 : 1);
  if (!axis) return false;
  if (*axis < -r || *axis >= r)
    return m.fail("axis " + std::to_string(*axis) + " is out of range for rank " +
                  std::to_string(r));
  int64_t ax = *axis < 0 ? *axis + r : *axis;
  if (m.opset < 13) {
    // Before opset 13 the input is coerced to 2-D at `axis` and normalised over
    // all trailing dims together: the same as over `axis` when those are 1.
    for (int d = static_cast<int>(ax) + 1; d < r; ++d)
      if (x->type.shape[d] != 1)
        return m.fail("Softmax (opset " + std::to_string(m.opset) + ") over dims " +
                      std::to_string(ax) + ".." + std::to_string(r - 1) +
                      " together is not supported");
  }
  ir::SoftmaxAttrs a;
  a.axis = ax;
  return simple(m, ir::OpKind::Softmax, a);
}

// Pad with constant zeros on H and W only: kept pending until its consumer.
bool pad(OnnxImporter& m) {
  ir::Value* x = m.data(0);
  if (!x) return false;
  auto mode = m.attr_string("mode", "constant");
  if (!mode) return false;
  if (*mode != "constant") return m.fail("mode '" + mode->substr(0, 20) + "' is not supported");
  std::vector<int64_t> pads;
  double value = 0;
  if (m.opset < 11) {
    auto p = m.attr_ints("pads", 16);
    auto v = m.attr_float("value", 0.0);
    if (!p || !v) return false;
    pads = *p;
    value = *v;
  } else {
    const OnnxConst* p = m.constant(1, "pads");
    if (!p) return false;
    if (p->is_float || p->elements() > 16) return m.fail("pads must be integers");
    pads = p->i;
    if (m.input(2)) {
      const OnnxConst* v = m.constant(2, "constant_value");
      if (!v) return false;
      if (v->elements() != 1) return m.fail("constant_value must be a scalar");
      value = v->at(0);
    }
    if (m.input(3)) return m.fail("the axes input is not supported");
  }
  int r = x->type.shape.rank();
  if (static_cast<int>(pads.size()) != 2 * r)
    return m.fail("pads has " + std::to_string(pads.size()) + " values, expected " +
                  std::to_string(2 * r));
  if (value != 0)
    return m.fail("padding with " + std::to_string(value) + " is not supported (only zeros)");
  for (int d = 0; d < r; ++d)
    if ((d < 2 || r != 4) && (pads[static_cast<size_t>(d)] || pads[static_cast<size_t>(d + r)]))
      return m.fail("only the H and W dims of an N, C, H, W tensor can be padded");
  for (int64_t p : pads)
    if (p < 0 || p > kMaxAttr) return m.fail("negative or huge pads are not supported");
  OnnxValue v;
  v.v = x;
  v.padded = true;
  v.pad = ir::Pad4{pads[2], pads[6], pads[3], pads[7]};
  v.pad_desc = m.desc;
  m.define(0, v);
  return true;
}

bool constant_node(OnnxImporter& m) {
  if (m.node->attribute_size() != 1) return m.fail("must have exactly one attribute");
  const onnx::AttributeProto& a = m.node->attribute(0);
  auto c = std::make_shared<OnnxConst>();
  if (a.name() == "value" && a.has_t()) {
    TensorReadOptions o;  // Constant tensors carry no external data in practice.
    auto t = read_onnx_tensor(a.t(), m.desc + ": value", o, m.file, m.diag);
    if (!t) return false;
    *c = std::move(*t);
  } else if (a.name() == "value_float") {
    c->f = {a.f()};
  } else if (a.name() == "value_floats") {
    c->f.assign(a.floats().begin(), a.floats().end());
    c->dims = {static_cast<int64_t>(c->f.size())};
  } else if (a.name() == "value_int") {
    c->is_float = false;
    c->i = {a.i()};
  } else if (a.name() == "value_ints") {
    c->is_float = false;
    c->i.assign(a.ints().begin(), a.ints().end());
    c->dims = {static_cast<int64_t>(c->i.size())};
  } else {
    return m.fail("attribute '" + a.name().substr(0, 40) + "' is not supported");
  }
  OnnxValue v;
  v.c = std::move(c);
  m.define(0, v);
  return true;
}

const std::map<std::string, OnnxConverter>& table() {
  using K = ir::OpKind;
  static const std::map<std::string, OnnxConverter> t = {
      {"Conv", conv},
      {"BatchNormalization", batch_norm},
      {"Relu", [](OnnxImporter& m) { return simple(m, K::Relu); }},
      {"LeakyRelu", leaky_relu},
      {"Elu", elu},
      {"Selu", selu},
      {"Gelu", gelu},
      {"Sigmoid", [](OnnxImporter& m) { return simple(m, K::Sigmoid); }},
      {"Tanh", [](OnnxImporter& m) { return simple(m, K::Tanh); }},
      {"Clip", clip},
      {"MaxPool", [](OnnxImporter& m) { return pool(m, true); }},
      {"AveragePool", [](OnnxImporter& m) { return pool(m, false); }},
      {"GlobalAveragePool", global_avg_pool},
      {"LRN", lrn},
      {"Dropout", dropout},
      {"Gemm", [](OnnxImporter& m) { return gemm_like(m, true); }},
      {"MatMul", [](OnnxImporter& m) { return gemm_like(m, false); }},
      {"Flatten", flatten},
      {"Reshape", reshape},
      {"Concat", concat},
      {"Add", [](OnnxImporter& m) { return add_like(m, false); }},
      {"Sum", [](OnnxImporter& m) { return add_like(m, true); }},
      {"Mul", mul},
      {"Softmax", softmax},
      {"Identity", identity},
      {"Constant", constant_node},
      {"Pad", pad},
  };
  return t;
}

}  // namespace

const OnnxConverter* onnx_converter(const std::string& op_type) {
  auto it = table().find(op_type);
  return it == table().end() ? nullptr : &it->second;
}

}  // namespace cnnc::frontend
