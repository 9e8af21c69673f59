#include "ir/shape_inference.h"

#include <gtest/gtest.h>

#include <sstream>

namespace cnnc::ir {
namespace {

TEST(WindowExtent, FloorSemantics) {
  EXPECT_EQ(window_output_extent(224, 7, 2, 3, 3, 1, false), 112);  // ResNet conv1: 112.5 -> 112
  EXPECT_EQ(window_output_extent(227, 11, 4, 0, 0, 1, false), 55);
  EXPECT_EQ(window_output_extent(7, 3, 1, 0, 0, 2, false), 3);  // dilation 2: effective kernel 5
  EXPECT_EQ(window_output_extent(3, 5, 1, 0, 0, 1, false), 0);  // kernel larger than the input
  EXPECT_EQ(window_output_extent(3, 5, 1, 1, 1, 1, false), 1);  // fits once padded
  EXPECT_EQ(window_output_extent(5, 1, 70000, 0, 0, 1, false), 1);  // stride beyond the input
}

TEST(WindowExtent, CeilModeDropsWindowStartingInPadding) {
  // PyTorch: MaxPool2d(2, 2, padding=1, ceil_mode=True) on 5 gives 3, not 4.
  EXPECT_EQ(window_output_extent(5, 2, 2, 1, 1, 1, true), 3);
  EXPECT_EQ(window_output_extent(6, 3, 2, 0, 0, 1, true), 3);     // floor would give 2
  EXPECT_EQ(window_output_extent(112, 3, 2, 0, 0, 1, true), 56);  // GoogLeNet maxpool1
  EXPECT_EQ(window_output_extent(14, 2, 2, 0, 0, 1, true), 7);
}

struct Fixture : ::testing::Test {
  std::ostringstream out;
  DiagnosticEngine diag{out};

  std::optional<OpShapes> infer(OpKind op, const Attrs& a, std::vector<Shape> ins,
                                ShapeOptions o = {}) {
    std::vector<TensorType> t;
    std::vector<std::string> names;
    for (size_t i = 0; i < ins.size(); ++i) {
      t.push_back({DType::F32, ins[i]});
      names.push_back("in" + std::to_string(i));
    }
    ShapeContext ctx{diag, make_file_loc("t"), "L", nullptr, names, o};
    return infer_shapes(op, a, t, ctx);
  }
};

using ShapeInference = Fixture;

TEST_F(ShapeInference, ConvOutputsAndParamShapes) {
  Conv2dAttrs c;
  c.filters = 32;
  c.kernel = {3, 3};
  c.stride = {2, 2};
  c.pad = {1, 1, 1, 1};
  c.groups = 4;
  auto r = infer(OpKind::Conv2d, c, {Shape{{2, 16, 9, 8}}});
  ASSERT_TRUE(r) << out.str();
  EXPECT_EQ(r->outputs[0].shape, (Shape{{2, 32, 5, 4}}));
  ASSERT_EQ(r->params.size(), 2u);
  EXPECT_EQ(r->params[0].shape, (Shape{{32, 4, 3, 3}}));  // [K, C/groups, R, S]
  EXPECT_EQ(r->params[1].shape, (Shape{{32}}));
}

TEST_F(ShapeInference, ConvErrorsNameTheLayerAndTheSizes) {
  Conv2dAttrs c;
  c.filters = 8;
  c.kernel = {5, 5};
  EXPECT_FALSE(infer(OpKind::Conv2d, c, {Shape{{1, 3, 3, 3}}}));
  EXPECT_NE(out.str().find("t: error: layer 'L': kernel 5x5 is larger than the padded input 3x3"),
            std::string::npos)
      << out.str();
  c.kernel = {3, 3};
  c.dilation = {3, 3};
  EXPECT_FALSE(infer(OpKind::Conv2d, c, {Shape{{1, 3, 5, 5}}}));
  EXPECT_NE(out.str().find("effective kernel 7x7 (dilation 3) is larger than the padded input 5x5"),
            std::string::npos);
  c.dilation = {1, 1};
  c.groups = 3;
  c.filters = 9;
  EXPECT_FALSE(infer(OpKind::Conv2d, c, {Shape{{1, 16, 8, 8}}}));
  EXPECT_NE(out.str().find("groups 3 must divide the input channels 16"), std::string::npos);
  EXPECT_FALSE(infer(OpKind::Conv2d, c, {Shape{{1, 16}}}));
  EXPECT_NE(out.str().find("conv2d needs a 4-d input (N, C, H, W), got 1x16 from 'in0'"),
            std::string::npos);
}

TEST_F(ShapeInference, UnreadRowsWarnOrFailWhenStrict) {
  Conv2dAttrs c;
  c.filters = 4;
  c.kernel = {3, 3};
  c.stride = {2, 2};
  auto r = infer(OpKind::Conv2d, c, {Shape{{1, 3, 224, 224}}});  // SqueezeNet's first conv
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outputs[0].shape[2], 111);
  EXPECT_EQ(diag.warning_count(), 2);
  EXPECT_FALSE(diag.has_errors());
  ShapeOptions strict;
  strict.strict_shapes = true;
  EXPECT_FALSE(infer(OpKind::Conv2d, c, {Shape{{1, 3, 224, 224}}}, strict));
  // Only padding unread (ResNet conv1) and windows smaller than the stride are normal.
  c.kernel = {7, 7};
  c.pad = {3, 3, 3, 3};
  int before = diag.warning_count();
  EXPECT_TRUE(infer(OpKind::Conv2d, c, {Shape{{1, 3, 224, 224}}}));
  c.kernel = {1, 1};
  c.pad = {};
  EXPECT_TRUE(infer(OpKind::Conv2d, c, {Shape{{1, 3, 56, 56}}}));
  EXPECT_EQ(diag.warning_count(), before);
}

TEST_F(ShapeInference, PoolPadMustBeSmallerThanTheKernel) {
  PoolAttrs p;
  p.kernel = {3, 3};
  p.stride = {2, 2};
  p.pad = {2, 2, 2, 2};
  EXPECT_TRUE(infer(OpKind::MaxPool, p, {Shape{{1, 3, 8, 8}}}));
  p.pad = {0, 3, 0, 0};
  EXPECT_FALSE(infer(OpKind::MaxPool, p, {Shape{{1, 3, 8, 8}}}));
  EXPECT_NE(out.str().find("pad 3 must be smaller than the kernel 3x3"), std::string::npos);
}

TEST_F(ShapeInference, LinearFlattensAndBatchNormTakesFourParams) {
  LinearAttrs l;
  l.units = 10;
  auto r = infer(OpKind::Linear, l, {Shape{{4, 16, 5, 5}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outputs[0].shape, (Shape{{4, 10}}));
  EXPECT_EQ(r->params[0].shape, (Shape{{10, 400}}));
  auto b = infer(OpKind::BatchNorm, BatchNormAttrs{}, {Shape{{2, 7, 3, 3}}});
  ASSERT_TRUE(b);
  EXPECT_EQ(b->params.size(), 4u);
  EXPECT_EQ(b->params[3].role, ParamRole::RunningVar);
  EXPECT_FALSE(infer(OpKind::BatchNorm, BatchNormAttrs{}, {Shape{{2, 7, 3}}}));
}

TEST_F(ShapeInference, ConcatAddAndAxes) {
  ConcatAttrs c;
  auto r = infer(OpKind::Concat, c, {Shape{{1, 3, 4, 4}}, Shape{{1, 5, 4, 4}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outputs[0].shape, (Shape{{1, 8, 4, 4}}));
  c.axis = -1;
  r = infer(OpKind::Concat, c, {Shape{{1, 3, 4, 4}}, Shape{{1, 3, 4, 2}}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->outputs[0].shape, (Shape{{1, 3, 4, 6}}));
  c.axis = 1;
  EXPECT_FALSE(infer(OpKind::Concat, c, {Shape{{1, 3, 8, 8}}, Shape{{1, 3, 7, 8}}}));
  EXPECT_NE(out.str().find("dimension 2 differs: 8 ('in0', 1x3x8x8) vs 7 ('in1', 1x3x7x8)"),
            std::string::npos);
  c.axis = 5;
  EXPECT_FALSE(infer(OpKind::Concat, c, {Shape{{1, 3, 8, 8}}}));
  EXPECT_NE(out.str().find("axis 5 is out of range for rank 4"), std::string::npos);
  EXPECT_FALSE(infer(OpKind::Add, AddAttrs{}, {Shape{{1, 16, 8, 8}}, Shape{{1, 32, 8, 8}}}));
  EXPECT_NE(out.str().find("add needs equal shapes, got 1x16x8x8 ('in0') and 1x32x8x8 ('in1')"),
            std::string::npos);
}

TEST_F(ShapeInference, ElementLimits) {
  ShapeOptions o;
  EXPECT_FALSE(infer(OpKind::Relu, NoAttrs{}, {Shape{{65536, 65536}}}, o));
  EXPECT_NE(out.str().find("more than 2^31-1"), std::string::npos);
  EXPECT_EQ(diag.exit_code(), ExitCode::ResourceLimit);
  o.large_buffers = true;
  EXPECT_TRUE(infer(OpKind::Relu, NoAttrs{}, {Shape{{65536, 65536}}}, o));
}

TEST(AttrChecks, RangesAndCrossFieldRules) {
  Conv2dAttrs c;
  c.filters = 8;
  c.kernel = {3, 3};
  c.stride = {0, 1};
  auto p = check_attrs(OpKind::Conv2d, c);
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].message, "\"stride\" must be >= 1, got 0");
  DropoutAttrs d;
  d.rate = 1.0;
  EXPECT_EQ(check_attrs(OpKind::Dropout, d)[0].message, "\"rate\" must be in [0, 1), got 1");
  ClipAttrs cl{6, 0};
  EXPECT_EQ(check_attrs(OpKind::Clip, cl)[0].field, "min");
  LrnAttrs l;
  l.size = 4;
  EXPECT_EQ(check_attrs(OpKind::Lrn, l)[0].field, "size");
  Conv2dAttrs e;
  e.filters = 8;
  e.kernel = {1, 1};
  e.epilogue.act.op = OpKind::Softmax;
  EXPECT_EQ(check_attrs(OpKind::Conv2d, e)[0].field, "epilogue");
}

}  // namespace
}  // namespace cnnc::ir
