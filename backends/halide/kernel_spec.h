// What one generated kernel computes, independent of Halide: the op family,
// its attributes, and the geometry of every buffer it takes. Two layers with
// equal specs share one compiled kernel; the spec's key also keys the cache.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "backends/halide/schedule.h"
#include "ir/attrs.h"

namespace cnnc::halide {

/// A float32 buffer: dims innermost first (W, H, C, N for NCHW), extents and
/// strides in elements.
struct Geometry {
  int rank = 0;
  std::array<int32_t, 4> extent{};
  std::array<int32_t, 4> stride{};
  bool operator==(const Geometry&) const = default;
  int64_t elements() const;
  std::string str() const;  ///< "56x56x64x1/1,56,3136,200704"
};

enum class Family : uint8_t {
  Conv,           ///< x, w [S,R,Cg,K], bias?, residual?; epilogue
  Linear,         ///< x [F,N], w^T [units,F], bias?, residual?; epilogue
  MaxPool,        ///< x
  AvgPool,        ///< x
  GlobalAvgPool,  ///< x [W,H,C,N] -> [1,1,C,N]
  Lrn,            ///< x
  Softmax,        ///< x viewed [inner, axis, outer]
  Elementwise,    ///< inputs viewed [inner, C, outer]; see ElementwiseOp
  // Training (templates_grad.cpp); `part` picks one result of a multi-result op.
  ConvGradInput,   ///< dy [Wo,Ho,K,N], w [S,R,Cg,K] -> dx [W,H,C,N]
  ConvGradWeight,  ///< x [W,H,C,N], dy [Wo,Ho,K,N] -> dw [S,R,Cg,K]
  ChannelSum,      ///< dy viewed [inner, C, outer] -> [C] (bias gradients)
  MaxPoolGrad,     ///< x, dy -> dx
  AvgPoolGrad,     ///< dy -> dx [W,H,C,N]
  BatchNormTrain,  ///< x [inner,C,outer], gamma, beta -> y, with the batch's statistics
  BatchNormStats,  ///< x, running [C,2] (mean, var) -> running [C,2], updated in place
  BatchNormGrad,   ///< part 0: x, gamma, dy -> dx; part 1: x, dy -> dgamma [C]
  Loss,            ///< loss_op; part 0: scores, labels -> [1]; part 1: -> dscores
  Update,          ///< optimizer step into one state tensor or the parameter; see lower_training
  LrnGrad,         ///< x, dy [W,H,C,N] -> dx
  SoftmaxGrad,     ///< y, dy viewed [inner, axis, outer] -> dx
};

const char* family_name(Family f);

/// What an elementwise kernel computes, before its activation:
///   Copy: x;  Scale: x·s;  ScaleShift: x·scale[c] + shift[c];  Sum: x0 + x1 + ...
///   ActivationGrad: dy · f'(v), v = x, or y when grad_from_output (epilogue.act is f);
///   DropoutMask: x · the dropout factor of each element (seed input [2], see lower_training).
enum class ElementwiseOp : uint8_t { Copy, Scale, ScaleShift, Sum, ActivationGrad, DropoutMask };

struct KernelSpec {
  Family family = Family::Elementwise;
  /// Argument buffers in call order; the output is last.
  std::vector<Geometry> args;

  // Conv and Linear.
  ir::Conv2dAttrs conv;  ///< kernel, stride, pad, dilation, groups (filters = K)
  /// Conv: when > 0 the weights come packed [block, C, S·R, K/block]
  /// (innermost first) and the kernel computes in blocks of `block` output
  /// channels (conv_block below); 0: weights [S, R, Cg, K] as in the IR.
  /// Linear: when > 0 (kLinearBlock) the weights come packed [block, F,
  /// U'/block], U' the units rounded up to kLinearPad (zeros beyond U);
  /// 0: [U, F] (or as the geometry's strides say).
  int block = 0;
  /// Blocked conv only: the input arrives in blocks of in_block channels
  /// ([in_block·W, H, C/in_block, N], innermost first) instead of NCHW (0);
  /// the output and the residual likewise in blocks of `block`.
  int in_block = 0;
  bool out_blocked = false, res_blocked = false;
  /// Blocked 3×3 conv: computed by Winograd F(4×4, 3×3) (winograd.h); the
  /// weights come transformed, [block, C, 36, K/block].
  bool winograd = false;
  bool bias = false;
  ir::Epilogue epilogue;  ///< also the activation of Elementwise kernels
  // Pooling.
  ir::PoolAttrs pool;
  bool count_include_pad = true;
  // Lrn.
  ir::LrnAttrs lrn;
  // Elementwise.
  ElementwiseOp ew = ElementwiseOp::Copy;
  double scale = 1.0;
  int inputs = 1;                 ///< data inputs (Sum)
  bool grad_from_output = false;  ///< ActivationGrad
  ir::DropoutAttrs dropout;       ///< DropoutMask
  uint64_t stream = 0;            ///< DropoutMask: the layer's key (FNV-1a of its name)
  // Training.
  int part = 0;  ///< which result of a multi-result op
  ir::OpKind loss_op = ir::OpKind::SoftmaxCrossEntropy;
  double eps = 0, momentum = 0;  ///< BatchNorm*
  ir::OpKind update_op = ir::OpKind::SgdUpdate;
  ir::SgdAttrs sgd;
  ir::AdamAttrs adam;

  /// Canonical text of everything above: equal keys compute the same function.
  std::string key() const;
};

/// Blocked conv: the input's channel count and the block of input channels the
/// template sums over: the producer's block when the input arrives blocked
/// (in_block), else the widest of 16, 8, 4, 1 dividing the channels.
struct InputBlocks {
  int channels;
  int block;
};
InputBlocks input_blocks(const KernelSpec& k);

/// The output-channel block of a convolution computed in the blocked layout:
/// 16 where the filters divide by 16, else 8 where they divide by 8, else 0
/// (the plain NCHW kernel). Depthwise convolutions (one filter per input
/// channel) are blocked too; other grouped ones stay plain. Independent of the
/// ISA, because every ISA variant of a kernel reads the same packed weights.
int conv_block(const ir::Conv2dAttrs& a, int64_t in_channels);

/// A linear layer's packed weights (KernelSpec::block): blocks of 16 units,
/// each block's rows adjacent, so a tile of units streams one contiguous
/// run of memory (not 64 bytes every U·4); units padded to a multiple of 64,
/// the widest tile the template makes.
constexpr int kLinearBlock = 16, kLinearPad = 64;
/// The block of a tensor of C channels kept in the blocked layout between
/// convolutions: as conv_block for C filters (16 or 8; 0: stays NCHW).
int channel_block(int64_t channels);

/// The function name of a compiled kernel: a stable hash of the spec and of
/// everything else that shapes its code (schedules, targets, compiler version).
std::string kernel_symbol(const KernelSpec& spec, const std::string& variant);

/// A stable 64-bit FNV-1a hash, as hex.
std::string stable_hash(const std::string& text);

}  // namespace cnnc::halide
