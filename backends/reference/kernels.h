// Reference kernels, one function per op family, forward and backward, in
// double. Shapes were checked by the verifier; each kernel writes output
// tensors already sized by the caller. Backward kernels *accumulate* into
// zero-initialised gradient tensors.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ir/attrs.h"
#include "ir/tensor.h"

namespace cnnc::reference {

using DTensor = ir::TensorOf<double>;

/// The activation `op` (an op with is_activation) at one value, in double.
/// alpha/beta: leaky_relu slope, elu alpha, clip min/max.
double activate(ir::OpKind op, double alpha, double beta, double x);

/// Residual add, then activation, in place (the shared epilogue of fused ops).
void apply_epilogue(const ir::Epilogue& e, const DTensor* residual, DTensor& y);

void conv2d(const DTensor& x, const DTensor& w, const DTensor* bias, const ir::Conv2dAttrs& a,
            DTensor& y);
void linear(const DTensor& x, const DTensor& w, const DTensor* bias, DTensor& y);

void max_pool(const DTensor& x, const ir::PoolAttrs& a, DTensor& y);
void avg_pool(const DTensor& x, const ir::AvgPoolAttrs& a, DTensor& y);
void global_avg_pool(const DTensor& x, DTensor& y);

void batch_norm_inference(const DTensor& x, const DTensor& gamma, const DTensor& beta,
                          const DTensor& mean, const DTensor& var, double eps, DTensor& y);
/// Normalises with the batch's mean and biased variance; returns the running
/// statistics updated with `momentum` (the unbiased variance, as PyTorch).
void batch_norm_training(const DTensor& x, const DTensor& gamma, const DTensor& beta,
                         const DTensor& mean, const DTensor& var, double eps, double momentum,
                         DTensor& y, DTensor& new_mean, DTensor& new_var);
void lrn(const DTensor& x, const ir::LrnAttrs& a, DTensor& y);

void activation(ir::OpKind op, double alpha, double beta, const DTensor& x, DTensor& y);
/// Inference: identity (inverted) or ×(1 − rate) (at_test_time). Training: a
/// Bernoulli mask from (seed, layer); kept units ×1/(1 − rate) when inverted.
void dropout(const DTensor& x, const ir::DropoutAttrs& a, bool training, uint64_t seed,
             const std::string& layer, DTensor& y);
void add(const std::vector<const DTensor*>& xs, DTensor& y);
void concat(const std::vector<const DTensor*>& xs, int64_t axis, DTensor& y);
void softmax(const DTensor& x, int64_t axis, DTensor& y);

/// Losses, a [1] tensor. Labels are class indices in [0, K) (callers check).
void softmax_cross_entropy(const DTensor& logits, const DTensor& labels, DTensor& loss);
void mse_loss(const DTensor& pred, const DTensor& target, DTensor& loss);

/// Optimizer steps (lr and t are the [1] inputs' values); v/v_next are null
/// for SGD without momentum.
void sgd_update(const ir::SgdAttrs& a, const DTensor& grad, double lr, const DTensor& p,
                const DTensor* v, DTensor& p_next, DTensor* v_next);
void adam_update(const ir::AdamAttrs& a, const DTensor& grad, double lr, double t, const DTensor& p,
                 const DTensor& m, const DTensor& v, DTensor& p_next, DTensor& m_next,
                 DTensor& v_next);

// ---- Backward: dy is the gradient of the forward result y. ----

/// d activate / dx at x. At kinks: relu' (0) = 0, clip passes [min, max] inclusive
/// (PyTorch's clamp).
double activate_grad(ir::OpKind op, double alpha, double beta, double x);
/// The same from the forward result y, for the activations where
/// ir::activation_grad_reads_output holds.
double activate_grad_from_output(ir::OpKind op, double alpha, double y);
/// From y where the IR says the backward op reads y only, else from x.
void activation_grad(ir::OpKind op, double alpha, double beta, const DTensor& x, const DTensor& y,
                     const DTensor& dy, DTensor& dx);

void conv2d_grad(const DTensor& x, const DTensor& w, const DTensor& dy, const ir::Conv2dAttrs& a,
                 DTensor& dx, DTensor& dw, DTensor* db);
void linear_grad(const DTensor& x, const DTensor& w, const DTensor& dy, DTensor& dx, DTensor& dw,
                 DTensor* db);

/// The gradient goes to the first maximum of each window (in row-major order).
void max_pool_grad(const DTensor& x, const ir::PoolAttrs& a, const DTensor& dy, DTensor& dx);
void avg_pool_grad(const DTensor& x, const ir::AvgPoolAttrs& a, const DTensor& dy, DTensor& dx);
void global_avg_pool_grad(const DTensor& dy, DTensor& dx);

/// Training: through the batch statistics; inference: through the running ones.
void batch_norm_grad(const DTensor& x, const DTensor& gamma, const DTensor& mean,
                     const DTensor& var, double eps, bool training, const DTensor& dy, DTensor& dx,
                     DTensor& dgamma, DTensor& dbeta);
void lrn_grad(const DTensor& x, const ir::LrnAttrs& a, const DTensor& dy, DTensor& dx);

/// The same mask as the forward dropout with this seed and layer.
void dropout_grad(const ir::DropoutAttrs& a, bool training, uint64_t seed, const std::string& layer,
                  const DTensor& dy, DTensor& dx);
/// dxs[i] is the slice of dy that input i filled.
void concat_grad(const DTensor& dy, int64_t axis, const std::vector<DTensor*>& dxs);
/// From the forward result y.
void softmax_grad(const DTensor& y, int64_t axis, const DTensor& dy, DTensor& dx);

/// dloss is the [1] gradient of the loss.
void softmax_cross_entropy_grad(const DTensor& logits, const DTensor& labels, const DTensor& dloss,
                                DTensor& dlogits);
void mse_loss_grad(const DTensor& pred, const DTensor& target, const DTensor& dloss,
                   DTensor& dpred);

}  // namespace cnnc::reference
