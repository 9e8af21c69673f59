// Typed op attributes. Each struct lists its fields once, in `fields()`, with
// the rule a value must satisfy; the frontend, the textual-IR printer and parser
// and the verifier all walk that list, so an attribute is declared in one place.
//
//   template <class Self, class V> static void fields(Self& s, V&& v) {
//     v("kernel", s.kernel, Rule::at_least(1).required());
//   }
//
// `Self` is the struct or its const version; `v` is called with the field's
// name, a reference to it and its Rule.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "ir/ops.h"
#include "ir/types.h"

namespace cnnc::ir {

/// What a field accepts. Bounds apply to numbers and to each component of
/// Hw / Pad4 values. Integers are also capped at 2^31-1 (Halide extents).
struct Rule {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false;  ///< lo itself is excluded
  bool hi_open = false;  ///< hi itself is excluded
  bool is_required = false;
  bool in_spec = true;  ///< false: IR-only (set by passes, not by users)

  static Rule any() { return Rule{}; }
  static Rule at_least(double v) { return Rule{v}; }
  static Rule greater_than(double v) {
    return Rule{v, std::numeric_limits<double>::infinity(), true};
  }
  static Rule range(double l, double h, bool h_open = false) { return Rule{l, h, false, h_open}; }
  static Rule ir_only() {
    Rule r;
    r.in_spec = false;
    return r;
  }
  Rule required() const {
    Rule r = *this;
    r.is_required = true;
    return r;
  }
  bool accepts(double v) const {
    if (std::isnan(v)) return false;
    if (lo_open ? !(v > lo) : !(v >= lo)) return false;
    if (hi_open ? !(v < hi) : !(v <= hi)) return false;
    return true;
  }
  /// "≥ 1", "in [0, 1)", "> 0", "finite"
  std::string describe() const;
};

inline constexpr int64_t kMaxIntAttr = (int64_t{1} << 31) - 1;

enum class DropoutScaling : uint8_t { Inverted, AtTestTime };

/// Names of an enum's values as spelt in specs and IR, index = value.
inline const std::vector<std::string>& enum_names(DropoutScaling) {
  static const std::vector<std::string> names = {"inverted", "at_test_time"};
  return names;
}

/// An activation applied at the end of a fused kernel. `op` is an op with
/// is_activation (or unset). alpha: leaky_relu slope, elu alpha, clip min;
/// beta: clip max.
struct Activation {
  std::optional<OpKind> op;
  double alpha = 0.0;
  double beta = 0.0;
  bool operator==(const Activation&) const = default;
};

/// The shared epilogue of fused kernels, applied in this order to the op's
/// result: (bias, part of the op) -> residual add -> activation.
/// A residual is the op's last data input and has the output's shape.
struct Epilogue {
  bool residual = false;
  Activation act;
  bool empty() const { return !residual && !act.op; }
  bool operator==(const Epilogue&) const = default;
};

struct NoAttrs {
  template <class Self, class V>
  static void fields(Self&, V&&) {}
};

struct Conv2dAttrs {
  int64_t filters = 0;
  Hw kernel;
  Hw stride{1, 1};
  Pad4 pad;
  Hw dilation{1, 1};
  int64_t groups = 1;
  bool bias = true;
  Epilogue epilogue;

  template <class Self, class V>
  static void fields(Self& s, V&& v) {
    v("filters", s.filters, Rule::at_least(1).required());
    v("kernel", s.kernel, Rule::at_least(1).required());
    v("stride", s.stride, Rule::at_least(1));
    v("pad", s.pad, Rule::at_least(0));
    v("dilation", s.dilation, Rule::at_least(1));
    v("groups", s.groups, Rule::at_least(1));
    v("bias", s.bias, Rule::any());
    v("epilogue", s.epilogue, Rule::ir_only());
  }
};

struct BatchNormAttrs {
  double eps = 1e-5;
  double momentum = 0.1;
  /// Activation only, in inference graphs (fuse-activation): DenseNet's
  /// batch_norm + relu before each convolution is one pass over the data.
  Epilogue epilogue;

  template <class Self, class V>
  static void fields(Self& s, V&& v) {
    v("eps", s.eps, Rule::greater_than(0));
    v("momentum", s.momentum, Rule::range(0, 1));
    v("epilogue", s.epilogue, Rule::ir_only());
  }
};

struct LeakyReluAttrs {
  double alpha = 0.01;
  template <class Self, class V>
  static void fields(Self& s, V&& v) {
    v("alpha", s.alpha, Rule::any());
  }
};

struct EluAttrs {
  double alpha = 1.0;
  template <class Self, class V>
  static void fields(Self& s, V&& v) {
    v("alpha", s.alpha, Rule::any());
  }
};

struct ClipAttrs {
  double min = 0.0;
  double max = 0.0;
  template <class Self, class V>
  static void fields(Self& s, V&& v) {
    v("min", s.min, Rule::any().required());
    v("max", s.max, Rule::any().required());
  }
};

/// max_pool: pads with -inf. `stride` defaults to `kernel`.
/// With ceil_mode a window that would start in the bottom/right padding is
/// dropped (PyTorch's rule).
struct PoolAttrs {
  Hw kernel;
  Hw stride;  ///< {0, 0} until defaulted to kernel
  Pad4 pad;
  bool ceil_mode = false;

  template <class Self, class V>
  static void fields(Self& s, V&& v) {
    v("kernel", s.kernel, Rule::at_least(1).required());
    v("stride", s.stride, Rule::at_least(1));
    v("pad", s.pad, Rule::at_least(0));
    v("ceil_mode", s.ceil_mode, Rule::any());
  }
  /// Defaults that depend on other fields; `given` says which were written.
  template <class Given>
  void derive_defaults(const Given& given) {
    if (!given("stride")) stride = kernel;
  }
};

struct AvgPoolAttrs {
  PoolAttrs pool;
  bool count_include_pad = true;

  template <class Self, class V>
  static void fields(Self& s, V&& v) {
    PoolAttrs::fields(s.pool, v);
    v("count_include_pad", s.count_include_pad, Rule::any());
  }
  template <class Given>
  void derive_defaults(const Given& given) {
    pool.derive_defaults(given);
  }
};

/// b = a / (k + alpha/size * sum over `size` neighbouring channels of a^2)^beta
struct LrnAttrs {
  int64_t size = 5;
  double alpha = 1e-4;
  double beta = 0.75;
  double k = 2.0;
  template <class Self, class V>
  static void fields(Self& s, V&& v) {
    v("size", s.size, Rule::at_least(1));
    v("alpha", s.alpha, Rule::any());
    v("beta", s.beta, Rule::any());
    v("k", s.k, Rule::greater_than(0));
  }
};

struct DropoutAttrs {
  double rate = 0.5;  ///< probability of dropping a unit
  DropoutScaling scaling = DropoutScaling::Inverted;
  template <class Self, class V>
  static void fields(Self& s, V&& v) {
    // rate 1 would divide by zero in inverted scaling.
    v("rate", s.rate, Rule::range(0, 1, /*h_open=*/true));
    v("scaling", s.scaling, Rule::any());
  }
};

/// Flattens its input to [N, rest] (C, H, W order) and computes x W^T + b.
struct LinearAttrs {
  int64_t units = 0;
  bool bias = true;
  Epilogue epilogue;
  template <class Self, class V>
  static void fields(Self& s, V&& v) {
    v("units", s.units, Rule::at_least(1).required());
    v("bias", s.bias, Rule::any());
    v("epilogue", s.epilogue, Rule::ir_only());
  }
};

struct ConcatAttrs {
  int64_t axis = 1;
  template <class Self, class V>
  static void fields(Self& s, V&& v) {
    v("axis", s.axis, Rule::any());
  }
};

/// Elementwise sum of two or more equal-shaped inputs.
struct AddAttrs {
  Epilogue epilogue;  ///< activation only; residual is meaningless for add
  template <class Self, class V>
  static void fields(Self& s, V&& v) {
    v("epilogue", s.epilogue, Rule::ir_only());
  }
};

struct SoftmaxAttrs {
  int64_t axis = 1;
  template <class Self, class V>
  static void fields(Self& s, V&& v) {
    v("axis", s.axis, Rule::any());
  }
};

/// sgd_update (see op_defs.def).
struct SgdAttrs {
  double momentum = 0.0;
  double weight_decay = 0.0;
  bool nesterov = false;
  template <class Self, class V>
  static void fields(Self& s, V&& v) {
    v("momentum", s.momentum, Rule::range(0, 1, /*h_open=*/true));
    v("weight_decay", s.weight_decay, Rule::at_least(0));
    v("nesterov", s.nesterov, Rule::any());
  }
};

/// adam_update (see op_defs.def); decoupled weight decay is AdamW.
struct AdamAttrs {
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;
  bool decoupled = false;
  template <class Self, class V>
  static void fields(Self& s, V&& v) {
    v("beta1", s.beta1, Rule::range(0, 1, /*h_open=*/true));
    v("beta2", s.beta2, Rule::range(0, 1, /*h_open=*/true));
    v("eps", s.eps, Rule::greater_than(0));
    v("weight_decay", s.weight_decay, Rule::at_least(0));
    v("decoupled", s.decoupled, Rule::any());
  }
};

/// One alternative per distinct attribute struct.
using Attrs = std::variant<NoAttrs, Conv2dAttrs, BatchNormAttrs, LeakyReluAttrs, EluAttrs,
                           ClipAttrs, PoolAttrs, AvgPoolAttrs, LrnAttrs, DropoutAttrs, LinearAttrs,
                           ConcatAttrs, AddAttrs, SoftmaxAttrs, SgdAttrs, AdamAttrs>;

/// The attributes of op `k` with every field at its default.
Attrs default_attrs(OpKind k);

/// The epilogue of ops that have one (conv2d, linear, add, batch_norm), else nullptr.
const Epilogue* epilogue_of(const Attrs& a);
Epilogue* epilogue_of(Attrs& a);

/// A problem with one attribute (cross-field checks and ranges).
struct AttrProblem {
  std::string field;
  std::string message;
};

/// Checks every field against its Rule and the op's cross-field constraints
/// (clip min <= max, odd lrn size, epilogue activations, ...).
std::vector<AttrProblem> check_attrs(OpKind k, const Attrs& a);

/// Applies defaults that depend on other fields (pool stride = kernel).
/// `given(name)` tells whether the user wrote the field.
template <class Given>
void derive_defaults(Attrs& a, const Given& given) {
  std::visit(
      [&](auto& x) {
        if constexpr (requires { x.derive_defaults(given); }) x.derive_defaults(given);
      },
      a);
}

}  // namespace cnnc::ir
