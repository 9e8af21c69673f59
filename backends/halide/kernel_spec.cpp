#include "backends/halide/kernel_spec.h"

#include <cstdio>
#include <sstream>

#include "ir/printer.h"

namespace cnnc::halide {

int64_t Geometry::elements() const {
  int64_t n = 1;
  for (int i = 0; i < rank; ++i) n *= extent[static_cast<size_t>(i)];
  return n;
}

std::string Geometry::str() const {
  std::string s;
  for (int i = 0; i < rank; ++i)
    s += (i ? "x" : "") + std::to_string(extent[static_cast<size_t>(i)]);
  s += "/";
  for (int i = 0; i < rank; ++i)
    s += (i ? "," : "") + std::to_string(stride[static_cast<size_t>(i)]);
  return s;
}

const char* family_name(Family f) {
  switch (f) {
    case Family::Conv:
      return "conv";
    case Family::Linear:
      return "linear";
    case Family::MaxPool:
      return "max_pool";
    case Family::AvgPool:
      return "avg_pool";
    case Family::GlobalAvgPool:
      return "global_avg_pool";
    case Family::Lrn:
      return "lrn";
    case Family::Softmax:
      return "softmax";
    case Family::Elementwise:
      return "elementwise";
    case Family::ConvGradInput:
      return "conv_grad_input";
    case Family::ConvGradWeight:
      return "conv_grad_weight";
    case Family::ChannelSum:
      return "channel_sum";
    case Family::MaxPoolGrad:
      return "max_pool_grad";
    case Family::AvgPoolGrad:
      return "avg_pool_grad";
    case Family::BatchNormTrain:
      return "batch_norm_train";
    case Family::BatchNormStats:
      return "batch_norm_stats";
    case Family::BatchNormGrad:
      return "batch_norm_grad";
    case Family::Loss:
      return "loss";
    case Family::Update:
      return "update";
    case Family::LrnGrad:
      return "lrn_grad";
    case Family::SoftmaxGrad:
      return "softmax_grad";
  }
  return "?";
}

const char* isa_name(Isa i) {
  switch (i) {
    case Isa::Sse41:
      return "sse41";
    case Isa::Avx2:
      return "avx2";
    case Isa::Avx512:
      return "avx512";
  }
  return "?";
}

std::string Schedule::key() const {
  char buf[96];
  std::snprintf(buf, sizeof buf, "v%dk%dx%dp%dc%dP%d%s%s", vector, tile_k, tile_x, parallel_split,
                chunk, parallel ? 1 : 0, fuse_pixels ? "F1" : "", share_input ? "S1" : "");
  return buf;
}

std::string KernelSpec::key() const {
  std::ostringstream k;
  k << family_name(family) << "(";
  for (const Geometry& g : args) k << g.str() << ";";
  k << ")";
  switch (family) {
    case Family::Conv:
    case Family::Linear:
      k << ir::print_attrs(conv) << " bias=" << bias;
      if (block)
        k << " block=" << block << " in_block=" << in_block << " out_blocked=" << out_blocked
          << " res_blocked=" << res_blocked;
      if (winograd) k << " winograd=1";
      break;
    case Family::MaxPool:
    case Family::AvgPool:
      k << ir::print_attrs(pool) << " include_pad=" << count_include_pad;
      if (in_block) k << " in_block=" << in_block;
      break;
    case Family::Lrn:
    case Family::LrnGrad:
      k << ir::print_attrs(lrn);
      break;
    case Family::Elementwise:
      k << " op=" << static_cast<int>(ew) << " scale=" << scale << " inputs=" << inputs;
      if (ew == ElementwiseOp::ActivationGrad) k << " from_output=" << grad_from_output;
      if (ew == ElementwiseOp::DropoutMask)
        k << " " << ir::print_attrs(dropout) << " stream=" << stream;
      break;
    case Family::ConvGradInput:
    case Family::ConvGradWeight:
      k << ir::print_attrs(conv);
      break;
    case Family::MaxPoolGrad:
    case Family::AvgPoolGrad:
      k << ir::print_attrs(pool) << " include_pad=" << count_include_pad;
      break;
    case Family::BatchNormTrain:
    case Family::BatchNormStats:
    case Family::BatchNormGrad:
      k << " eps=" << eps << " momentum=" << momentum << " part=" << part;
      break;
    case Family::Loss:
      k << " " << ir::op_name(loss_op) << " part=" << part;
      break;
    case Family::Update:
      k << " " << ir::op_name(update_op) << " part=" << part << " "
        << (update_op == ir::OpKind::SgdUpdate ? ir::print_attrs(sgd) : ir::print_attrs(adam));
      break;
    default:
      break;
  }
  k << " epilogue=" << ir::print_epilogue(epilogue);
  return k.str();
}

int channel_block(int64_t channels) { return channels % 16 == 0 ? 16 : channels % 8 == 0 ? 8 : 0; }

int conv_block(const ir::Conv2dAttrs& a, int64_t in_channels) {
  const bool depthwise = a.groups == a.filters && in_channels == a.filters;
  return a.groups == 1 || depthwise ? channel_block(a.filters) : 0;
}

std::string stable_hash(const std::string& text) {
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : text) h = (h ^ c) * 1099511628211ull;
  char buf[20];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

std::string kernel_symbol(const KernelSpec& spec, const std::string& variant) {
  return "cnnc_k_" + stable_hash(spec.key() + "|" + variant);
}

InputBlocks input_blocks(const KernelSpec& k) {
  const Geometry& gx = k.args.at(0);
  const int C = k.in_block ? gx.extent[2] * k.in_block : gx.extent[2];
  const int B = k.in_block ? k.in_block : C % 16 == 0 ? 16 : C % 8 == 0 ? 8 : C % 4 == 0 ? 4 : 1;
  return {C, B};
}

}  // namespace cnnc::halide
