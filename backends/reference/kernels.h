// Reference kernels, one function per op family. Shapes were checked by the
// verifier; each kernel writes an output tensor already sized by the caller.
#pragma once

#include <cstdint>
#include <vector>

#include "ir/attrs.h"
#include "ir/tensor.h"

namespace cnnc::reference {

using ir::Tensor;

/// The activation `op` (an op with is_activation) at one value, in double.
/// alpha/beta: leaky_relu slope, elu alpha, clip min/max.
double activate(ir::OpKind op, double alpha, double beta, double x);

/// Residual add, then activation, in place (the shared epilogue of fused ops).
void apply_epilogue(const ir::Epilogue& e, const Tensor* residual, Tensor& y);

void conv2d(const Tensor& x, const Tensor& w, const Tensor* bias, const ir::Conv2dAttrs& a,
            Tensor& y);
void linear(const Tensor& x, const Tensor& w, const Tensor* bias, Tensor& y);

void max_pool(const Tensor& x, const ir::PoolAttrs& a, Tensor& y);
void avg_pool(const Tensor& x, const ir::AvgPoolAttrs& a, Tensor& y);
void global_avg_pool(const Tensor& x, Tensor& y);

void batch_norm_inference(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                          const Tensor& mean, const Tensor& var, double eps, Tensor& y);
/// Normalises with the batch's mean and biased variance; returns the running
/// statistics updated with `momentum` (the unbiased variance, as PyTorch).
void batch_norm_training(const Tensor& x, const Tensor& gamma, const Tensor& beta,
                         const Tensor& mean, const Tensor& var, double eps, double momentum,
                         Tensor& y, Tensor& new_mean, Tensor& new_var);
void lrn(const Tensor& x, const ir::LrnAttrs& a, Tensor& y);

void activation(ir::OpKind op, double alpha, double beta, const Tensor& x, Tensor& y);
/// Inference: identity (inverted) or ×(1 − rate) (at_test_time). Training: a
/// Bernoulli mask from (seed, layer); kept units ×1/(1 − rate) when inverted.
void dropout(const Tensor& x, const ir::DropoutAttrs& a, bool training, uint64_t seed,
             const std::string& layer, Tensor& y);
void add(const std::vector<const Tensor*>& xs, Tensor& y);
void concat(const std::vector<const Tensor*>& xs, int64_t axis, Tensor& y);
void softmax(const Tensor& x, int64_t axis, Tensor& y);

}  // namespace cnnc::reference
