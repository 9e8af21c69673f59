// Per-layer figures for `cnnc report`: parameters, multiply-accumulates, FLOPs,
// activation sizes and receptive fields.
//
// Conventions (also in `cnnc report --help` and the README):
//   MACs   conv2d: K·(C/groups)·R·S·H_out·W_out per image; linear: in·out per
//          image; every other op: 0.
//   FLOPs  conv2d/linear: 2·MACs, plus one add per output element with bias.
//          batch_norm: 2 per element (scale and shift); add: (inputs − 1) per
//          element; activations and dropout: 1 per element; max/avg_pool: kernel
//          area per output element (+1 for the average's divide);
//          global_avg_pool: H·W per output element (+1); lrn: size + 3 per
//          element; softmax: 3 per element; flatten, concat: 0. An op with a
//          fused epilogue adds the residual add and the activation per element.
//   Activations: every layer output plus the graph inputs, 4 bytes per value.
//          An activation or dropout whose input has no other use works in place
//          (as torchvision's ReLU(inplace=True)) and adds nothing to the total,
//          the convention of the CS231n VGG-16 memory table; the total without
//          in-place reuse is reported too.
//   Receptive field: size and jump (stride product) in input pixels along H and
//          W, the largest over all paths; layers that see the whole input
//          (global pooling, linear on a 4-d input) extend it over that input.
// All counts scale with the batch (the graph's dim 0); saturate at INT64_MAX.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/graph.h"

namespace cnnc::ir {

struct ReceptiveField {
  int64_t size_h = 1, size_w = 1;
  int64_t jump_h = 1, jump_w = 1;
};

struct LayerStats {
  const Node* node = nullptr;    ///< null for a graph input row
  const Value* value = nullptr;  ///< the (first) output, or the input
  int64_t activation_elements = 0;
  bool in_place = false;  ///< overwrites its input: not counted in the activation total
  int64_t params = 0;     ///< trainable parameters (PyTorch's parameters())
  int64_t state = 0;      ///< stored but not trained: BN running statistics (PyTorch's buffers)
  int64_t macs = 0;
  int64_t flops = 0;
  ReceptiveField rf;
};

struct GraphStats {
  std::vector<LayerStats> rows;  ///< graph inputs first, then nodes in order
  int64_t params = 0;            ///< trainable
  int64_t state = 0;             ///< BN running statistics
  int64_t param_bytes = 0;       ///< all stored parameters and state
  int64_t macs = 0;
  int64_t flops = 0;
  int64_t activation_elements = 0;  ///< inputs + node outputs, in-place layers counted once
  int64_t activation_bytes = 0;
  int64_t activation_elements_all = 0;  ///< inputs + every node output, no reuse at all
  int64_t batch = 1;
};

GraphStats analyze(const Graph& g);

}  // namespace cnnc::ir
