// Gradient checks of the autodiff pass and the reference backend's backward
// ops: the gradient of the loss with respect to each parameter, from the
// training graph, against central finite differences of the loss, all in
// double. Ops without parameters are checked through a parameterised layer in
// front of them (their input gradient carries that layer's weight gradient).
//
// Error measure: |analytic − numeric| / max(|analytic|, |numeric|, 1e-4) must
// be ≤ 1e-6, the numeric gradient from a five-point stencil with step 1e-4
// (truncation ~1e-17, rounding ~1e-12 for losses of order 1). The floor keeps
// the measure relative where gradients are large enough to resolve. At kinks
// (ReLU at 0, max-pool ties, clip bounds) differences are meaningless; points
// where central differences over h and 2h disagree are skipped, and at most
// 10% of the points may be.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <sstream>

#include "backends/reference/interpreter.h"
#include "ir/parser.h"
#include "ir/verifier.h"
#include "passes/pass_manager.h"
#include "support/random.h"

namespace cnnc {
namespace {

using reference::Params64;
using reference::Tensor64;

struct Case {
  const char* name;
  const char* ir;  ///< a graph with input %x and one output
  passes::TrainingOptions::Loss loss = passes::TrainingOptions::Loss::Mse;
  reference::Mode mode = reference::Mode::Training;
};

Tensor64 random_tensor(const ir::Shape& s, uint64_t seed, const std::string& key, double scale) {
  Tensor64 t(s);
  RandomStream rng(seed, key);
  for (double& v : t.data) v = rng.normal() * scale;
  return t;
}

struct Prepared {
  ir::Graph train;
  std::vector<Tensor64> inputs;
  Params64 params;
  std::vector<const ir::Value*> grads_of;  ///< the parameter of each gradient output
};

Prepared prepare(const Case& c) {
  std::ostringstream err;
  DiagnosticEngine diag(err);
  auto g = ir::parse_ir(c.ir, make_file_loc(std::string(c.name) + ".cnnir"), diag);
  EXPECT_TRUE(g && ir::verify(*g, diag)) << err.str();
  Prepared p{std::move(*g), {}, {}, {}};
  passes::PassManager pm({"autodiff"}, {});
  passes::PassContext ctx(passes::Mode::Training);
  ctx.training.loss = c.loss;
  ctx.diag = &diag;
  pm.run(p.train, ctx);
  EXPECT_EQ(ctx.errors, 0) << err.str();
  for (const ir::Value* v : p.train.params()) {
    // Running variances must stay positive; everything else standard normal-ish.
    const bool var = v->name.ends_with("running_var");
    Tensor64 t = random_tensor(v->type.shape, 7, v->name, var ? 0.2 : 0.5);
    if (var)
      for (double& x : t.data) x = 0.5 + std::fabs(x);
    p.params.emplace(v->name, std::move(t));
  }
  for (const ir::Value* in : p.train.inputs()) {
    Tensor64 t = random_tensor(in->type.shape, 11, in->name, 1.0);
    if (in->name == "labels" && c.loss == passes::TrainingOptions::Loss::CrossEntropy) {
      const int64_t classes = p.train.outputs()[1]->type.shape[1];
      for (int64_t i = 0; i < t.size(); ++i) t[i] = static_cast<double>((i * 7 + 3) % classes);
    }
    p.inputs.push_back(std::move(t));
  }
  // Outputs: loss, prediction, then one gradient per trained parameter, named <param>.grad.
  for (size_t i = 2; i < p.train.outputs().size(); ++i) {
    std::string n = p.train.outputs()[i]->name;
    n = n.substr(0, n.find(".grad"));
    const ir::Value* param = p.train.find_value(n, true);
    EXPECT_NE(param, nullptr) << "gradient output " << p.train.outputs()[i]->name;
    p.grads_of.push_back(param);
  }
  return p;
}

double loss_at(const Prepared& p, const Params64& params, const reference::RunOptions& opts) {
  return reference::run_f64(p.train, p.inputs, opts, &params).outputs[0][0];
}

void check(const Case& c) {
  SCOPED_TRACE(c.name);
  Prepared p = prepare(c);
  ASSERT_FALSE(p.grads_of.empty());
  reference::RunOptions opts;
  opts.mode = c.mode;
  opts.seed = 5;
  reference::RunResult64 r = reference::run_f64(p.train, p.inputs, opts, &p.params);
  const double h = 1e-4;
  int checked = 0, skipped = 0;
  for (size_t gi = 0; gi < p.grads_of.size(); ++gi) {
    const std::string& name = p.grads_of[gi]->name;
    const Tensor64& analytic = r.outputs[2 + gi];
    ASSERT_EQ(analytic.shape, p.grads_of[gi]->type.shape) << name;
    // Every element of small parameters, an even sample of large ones.
    const int64_t n = analytic.size(), step = std::max<int64_t>(1, n / 48);
    for (int64_t i = 0; i < n; i += step) {
      Params64 q = p.params;
      const double x0 = q.at(name)[i];
      auto f = [&](double dx) {
        q.at(name)[i] = x0 + dx;
        return loss_at(p, q, opts);
      };
      const double f1 = f(h), f_1 = f(-h), f2 = f(2 * h), f_2 = f(-2 * h);
      // Five-point stencil: truncation error O(h^4).
      const double numeric = (8 * (f1 - f_1) - (f2 - f_2)) / (12 * h);
      // Central differences over h and 2h agree to O(h^2) unless a kink lies between.
      const double c1 = (f1 - f_1) / (2 * h), c2 = (f2 - f_2) / (4 * h);
      const double a = analytic[i];
      if (std::fabs(c1 - c2) > 1e-5 * std::max({std::fabs(c1), std::fabs(c2), 1e-2})) {
        ++skipped;
        continue;
      }
      const double err =
          std::fabs(a - numeric) / std::max({std::fabs(a), std::fabs(numeric), 1e-4});
      EXPECT_LE(err, 1e-6) << name << "[" << i << "]: analytic " << a << ", numeric " << numeric;
      ++checked;
    }
  }
  EXPECT_GT(checked, 0);
  EXPECT_LE(skipped * 10, checked + skipped)
      << skipped << " of " << checked + skipped << " points at kinks";
}

// A 1x1 conv in front gives ops without parameters a gradient to pass on.
#define FRONT                         \
  "  input %x: f32[2,3,6,6]\n"        \
  "  param @f.weight: f32[4,3,1,1]\n" \
  "  param @f.bias: f32[4]\n"         \
  "  %f = conv2d(%x, @f.weight, @f.bias) {filters=4, kernel=[1,1]}\n"

// The parameters of a batch_norm 'b' over FRONT's 4 channels.
#define BN_PARAMS                     \
  "  param @b.gamma: f32[4]\n"        \
  "  param @b.beta: f32[4]\n"         \
  "  param @b.running_mean: f32[4]\n" \
  "  param @b.running_var: f32[4]\n"

std::string through(const std::string& op_line) {
  return "graph \"g\" {\n" FRONT "  " + op_line + "\n  output %y\n}\n";
}

TEST(GradientCheck, Conv2dStridePadBias) {
  check({"conv", R"(graph "g" {
  input %x: f32[2,3,7,6]
  param @c.weight: f32[4,3,3,2]
  param @c.bias: f32[4]
  %c = conv2d(%x, @c.weight, @c.bias) {filters=4, kernel=[3,2], stride=[2,1], pad=[1,0,1,1]}
  output %c
})"});
}

TEST(GradientCheck, Conv2dGroupsDilationThroughAnotherConv) {
  check({"conv_groups", "graph \"g\" {\n" FRONT R"(  param @c.weight: f32[6,2,3,3]
  %y = conv2d(%f, @c.weight) {filters=6, kernel=[3,3], dilation=[2,2], groups=2, pad=[2,1,1,2], bias=false}
  output %y
})"});
}

TEST(GradientCheck, DepthwiseConv) {
  check({"depthwise", "graph \"g\" {\n" FRONT R"(  param @c.weight: f32[4,1,3,3]
  param @c.bias: f32[4]
  %y = conv2d(%f, @c.weight, @c.bias) {filters=4, kernel=[3,3], stride=[2,2], pad=[1,1,1,1], groups=4}
  output %y
})"});
}

TEST(GradientCheck, LinearOnFourDimensionalInput) {
  check({"linear", "graph \"g\" {\n" FRONT R"(  param @l.weight: f32[5,144]
  param @l.bias: f32[5]
  %y = linear(%f, @l.weight, @l.bias) {units=5}
  output %y
})"});
}

TEST(GradientCheck, BatchNormTrainingMode) {
  check({"bn", "graph \"g\" {\n" FRONT BN_PARAMS
               R"(  %b = batch_norm(%f, @b.gamma, @b.beta, @b.running_mean, @b.running_var)
  %y = sigmoid(%b)
  output %y
})"});
}

TEST(GradientCheck, BatchNormInferenceModeUsesRunningStatistics) {
  check({"bn_eval",
         "graph \"g\" {\n" FRONT BN_PARAMS
         R"(  %y = batch_norm(%f, @b.gamma, @b.beta, @b.running_mean, @b.running_var) {eps=0.001}
  output %y
})",
         passes::TrainingOptions::Loss::Mse, reference::Mode::Inference});
}

TEST(GradientCheck, BatchNormAfterLinear) {
  check({"bn2d", R"(graph "g" {
  input %x: f32[4,6]
  param @l.weight: f32[3,6]
  param @l.bias: f32[3]
  param @b.gamma: f32[3]
  param @b.beta: f32[3]
  param @b.running_mean: f32[3]
  param @b.running_var: f32[3]
  %l = linear(%x, @l.weight, @l.bias) {units=3}
  %b = batch_norm(%l, @b.gamma, @b.beta, @b.running_mean, @b.running_var)
  %y = tanh(%b)
  output %y
})"});
}

TEST(GradientCheck, Activations) {
  for (const char* act :
       {"relu(%f)", "leaky_relu(%f) {alpha=0.1}", "elu(%f) {alpha=0.7}", "selu(%f)", "gelu(%f)",
        "sigmoid(%f)", "tanh(%f)", "clip(%f) {min=-0.5, max=0.4}"}) {
    std::string ir = through(std::string("%y = ") + act);
    check({act, ir.c_str()});
  }
}

TEST(GradientCheck, Pooling) {
  for (const char* pool :
       {"max_pool(%f) {kernel=[3,3], stride=[2,2], pad=[1,1,1,1], ceil_mode=true}",
        "max_pool(%f) {kernel=[2,3], stride=[2,2]}",
        "avg_pool(%f) {kernel=[3,3], stride=[2,2], pad=[1,1,1,1], count_include_pad=false, "
        "ceil_mode=true}",
        "avg_pool(%f) {kernel=[3,2], stride=[1,2], pad=[1,1,0,0]}", "global_avg_pool(%f)"}) {
    std::string ir = through(std::string("%y = ") + pool);
    check({pool, ir.c_str()});
  }
}

TEST(GradientCheck, LocalResponseNorm) {
  std::string ir = through("%y = lrn(%f) {size=3, alpha=0.5, beta=0.75, k=1.5}");
  check({"lrn", ir.c_str()});
}

TEST(GradientCheck, DropoutUsesTheForwardMask) {
  std::string inverted = through("%y = dropout(%f) {rate=0.3}");
  check({"dropout", inverted.c_str()});
  std::string at_test = through("%y = dropout(%f) {rate=0.4, scaling=at_test_time}");
  check({"dropout_at_test_time", at_test.c_str()});
}

TEST(GradientCheck, FlattenConcatAddSoftmax) {
  check({"branches", "graph \"g\" {\n" FRONT R"(  param @a.weight: f32[2,4,1,1]
  param @b.weight: f32[3,4,3,3]
  %a = conv2d(%f, @a.weight) {filters=2, kernel=[1,1], bias=false}
  %b = conv2d(%f, @b.weight) {filters=3, kernel=[3,3], pad=[1,1,1,1], bias=false}
  %cat = concat(%a, %b, %f)
  %s = softmax(%cat)
  %t = tanh(%f)
  %sum = add(%f, %t, %f)
  %flat1 = flatten(%s)
  %flat2 = flatten(%sum)
  %y = concat(%flat1, %flat2)
  output %y
})"});
}

TEST(GradientCheck, SoftmaxCrossEntropyOnTheLogits) {
  check({"cross_entropy", R"(graph "g" {
  input %x: f32[3,5]
  param @l.weight: f32[4,5]
  param @l.bias: f32[4]
  %l = linear(%x, @l.weight, @l.bias) {units=4}
  %prob = softmax(%l)
  output %prob
})",
         passes::TrainingOptions::Loss::CrossEntropy});
}

constexpr const char* kSmallNet = R"(graph "g" {
  input %x: f32[4,1,12,12]
  param @c1.weight: f32[4,1,5,5]
  param @c1.bias: f32[4]
  param @bn.gamma: f32[4]
  param @bn.beta: f32[4]
  param @bn.running_mean: f32[4]
  param @bn.running_var: f32[4]
  param @c2.weight: f32[6,4,3,3]
  param @c2.bias: f32[6]
  param @fc1.weight: f32[10,54]
  param @fc1.bias: f32[10]
  param @fc2.weight: f32[3,10]
  param @fc2.bias: f32[3]
  %c1 = conv2d(%x, @c1.weight, @c1.bias) {filters=4, kernel=[5,5], pad=[2,2,2,2]}
  %bn = batch_norm(%c1, @bn.gamma, @bn.beta, @bn.running_mean, @bn.running_var)
  %r1 = relu(%bn)
  %p1 = max_pool(%r1) {kernel=[2,2], stride=[2,2]}
  %c2 = conv2d(%p1, @c2.weight, @c2.bias) {filters=6, kernel=[3,3]}
  %r2 = relu(%c2)
  %p2 = avg_pool(%r2) {kernel=[2,2], stride=[1,1]}
  %fc1 = linear(%p2, @fc1.weight, @fc1.bias) {units=10}
  %r3 = relu(%fc1)
  %d = dropout(%r3) {rate=0.25}
  %fc2 = linear(%d, @fc2.weight, @fc2.bias) {units=3}
  %prob = softmax(%fc2)
  output %prob
})";

TEST(GradientCheck, SmallNetworkWithBatchNormAndDropout) {
  check({"lenet_bn", kSmallNet, passes::TrainingOptions::Loss::CrossEntropy});
}

// The training graph still computes the network's prediction, unchanged.
TEST(Autodiff, PredictionIsTheForwardOutput) {
  Case c{"lenet_bn", kSmallNet, passes::TrainingOptions::Loss::CrossEntropy};
  Prepared p = prepare(c);
  std::ostringstream err;
  DiagnosticEngine diag(err);
  auto fwd = ir::parse_ir(kSmallNet, make_file_loc("fwd.cnnir"), diag);
  ASSERT_TRUE(fwd) << err.str();
  reference::RunOptions opts;
  opts.mode = reference::Mode::Training;
  opts.seed = 3;
  auto train = reference::run_f64(p.train, p.inputs, opts, &p.params);
  auto plain = reference::run_f64(*fwd, {p.inputs[0]}, opts, &p.params);
  EXPECT_EQ(train.outputs[1].data, plain.outputs[0].data);
  // Batch-norm running statistics are updated as in a forward training run.
  ASSERT_EQ(train.updated_state.size(), 2u);
  EXPECT_EQ(train.updated_state[0].second.data, plain.updated_state[0].second.data);
}

// plan-memory on a training graph (backward ops with several results): run
// with every result kept in its planned arena slot, the results are the same.
TEST(Autodiff, MemoryPlannedTrainingGraphComputesTheSame) {
  Prepared p = prepare({"lenet_bn", kSmallNet, passes::TrainingOptions::Loss::CrossEntropy});
  reference::RunOptions opts;
  opts.mode = reference::Mode::Training;
  auto before = reference::run_f64(p.train, p.inputs, opts, &p.params);
  passes::PassManager pm({"plan-memory"}, {});
  passes::PassContext ctx(passes::Mode::Training);
  pm.run(p.train, ctx);
  opts.simulate_arena = true;
  auto after = reference::run_f64(p.train, p.inputs, opts, &p.params);
  ASSERT_EQ(before.outputs.size(), after.outputs.size());
  for (size_t i = 0; i < before.outputs.size(); ++i)
    EXPECT_EQ(before.outputs[i].data, after.outputs[i].data) << p.train.outputs()[i]->name;
}

// fuse-activation on a training graph fuses relu into the conv and linear
// before it (their backward ops read the same from the activated value) and
// leaves the batch-normalised relu alone; every output stays the same.
void expect_fusion_keeps_outputs(const Case& c, int want_fused) {
  SCOPED_TRACE(c.name);
  Prepared p = prepare(c);
  reference::RunOptions opts;
  opts.mode = reference::Mode::Training;
  opts.seed = 4;
  auto before = reference::run_f64(p.train, p.inputs, opts, &p.params);
  passes::PassManager pm({"fuse-activation"}, {});
  passes::PassContext ctx(passes::Mode::Training);
  pm.run(p.train, ctx);
  int fused = 0;
  for (const auto& n : p.train.nodes())
    if (const ir::Epilogue* e = ir::epilogue_of(n->attrs); e && e->act.op) ++fused;
  EXPECT_EQ(fused, want_fused);
  auto after = reference::run_f64(p.train, p.inputs, opts, &p.params);
  ASSERT_EQ(before.outputs.size(), after.outputs.size());
  for (size_t i = 0; i < before.outputs.size(); ++i)
    EXPECT_EQ(before.outputs[i].data, after.outputs[i].data) << p.train.outputs()[i]->name;
}

TEST(Autodiff, FusedTrainingGraphComputesTheSame) {
  // c2+r2, fc1+r3; r1 follows batch_norm.
  expect_fusion_keeps_outputs({"lenet_bn", kSmallNet, passes::TrainingOptions::Loss::CrossEntropy},
                              2);
  // Activations whose gradients follow from their outputs; gelu's does not.
  expect_fusion_keeps_outputs(
      {"activations", "graph \"g\" {\n" FRONT R"(  param @a.weight: f32[4,4,1,1]
  param @b.weight: f32[4,4,1,1]
  param @l.weight: f32[3,144]
  %fs = sigmoid(%f)
  %a = conv2d(%fs, @a.weight) {filters=4, kernel=[1,1], bias=false}
  %at = tanh(%a)
  %b = conv2d(%at, @b.weight) {filters=4, kernel=[1,1], bias=false}
  %bg = gelu(%b)
  %s = add(%bg, %fs)
  %se = elu(%s) {alpha=0.5}
  %l = linear(%se, @l.weight) {units=3, bias=false}
  %y = selu(%l)
  output %y
})"},
      4);
}

}  // namespace
}  // namespace cnnc
