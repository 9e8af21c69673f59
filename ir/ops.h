// The op kinds, expanded from op_defs.def, and what is known about each.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cnnc::ir {

enum class OpKind : uint8_t {
#define OP(Enum, name, Attrs, fusion, act, role) Enum,
#include "ir/op_defs.def"
#undef OP
#define GRAD(Enum, name, Forward) Enum,
#include "ir/grad_op_defs.def"
#undef GRAD
};

inline constexpr int kNumOps = 0
#define OP(Enum, name, Attrs, fusion, act, role) +1
#include "ir/op_defs.def"
#undef OP
#define GRAD(Enum, name, Forward) +1
#include "ir/grad_op_defs.def"
#undef GRAD
    ;

enum class FusionClass : uint8_t {
  Elementwise,
  Broadcast,
  Injective,
  Reduction,
  ComplexOut,
  Opaque
};

/// Layer: written in specs. Loss and Grad: made by the autodiff pass; Update:
/// by the optimizer pass (IR only).
enum class OpRole : uint8_t { Layer, Loss, Update, Grad };

struct OpInfo {
  const char* name;  ///< the IR and spec spelling: "conv2d"
  FusionClass fusion;
  bool is_activation;  ///< may become the activation of a fused epilogue
  OpRole role;
  OpKind forward;  ///< Grad ops: the op whose gradient this is; others: the op itself
};

const OpInfo& op_info(OpKind k);
inline const char* op_name(OpKind k) { return op_info(k).name; }
inline bool is_grad(OpKind k) { return op_info(k).role == OpRole::Grad; }
/// The backward op of a Layer or Loss op.
OpKind grad_of(OpKind forward);
/// Whether the backward op of activation `act` (with leaky_relu's or elu's
/// `alpha`) computes from the forward result y alone, leaving its x operand
/// unread: relu, leaky_relu and elu with alpha > 0 (y > 0 exactly when x > 0),
/// selu, sigmoid, tanh. Passes may then let x hold the activated value.
bool activation_grad_reads_output(OpKind act, double alpha);
std::optional<OpKind> op_from_name(std::string_view name);
/// Every op name of these roles, in table order (for suggestions and --help).
std::vector<std::string> all_op_names(bool layers_only = false);

}  // namespace cnnc::ir
