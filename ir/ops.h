// The op kinds, expanded from op_defs.def, and what is known about each.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cnnc::ir {

enum class OpKind : uint8_t {
#define OP(Enum, name, Attrs, fusion, act) Enum,
#include "ir/op_defs.def"
#undef OP
};

inline constexpr int kNumOps = 0
#define OP(Enum, name, Attrs, fusion, act) +1
#include "ir/op_defs.def"
#undef OP
    ;

enum class FusionClass : uint8_t {
  Elementwise,
  Broadcast,
  Injective,
  Reduction,
  ComplexOut,
  Opaque
};

struct OpInfo {
  const char* name;  ///< the IR and spec spelling: "conv2d"
  FusionClass fusion;
  bool is_activation;  ///< may become the activation of a fused epilogue
};

const OpInfo& op_info(OpKind k);
inline const char* op_name(OpKind k) { return op_info(k).name; }
std::optional<OpKind> op_from_name(std::string_view name);
/// Every op name, in table order (for suggestions and --help).
std::vector<std::string> all_op_names();

}  // namespace cnnc::ir
