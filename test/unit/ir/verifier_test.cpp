#include "ir/verifier.h"

#include <gtest/gtest.h>

#include <sstream>

namespace cnnc::ir {
namespace {

TensorType f32(std::vector<int64_t> d) { return {DType::F32, Shape{std::move(d)}}; }

struct VerifierTest : ::testing::Test {
  std::ostringstream out;
  DiagnosticEngine diag{out};
  Graph g;
  Value* x = g.add_input("x", f32({1, 3, 8, 8}));

  Conv2dAttrs conv(int64_t k) {
    Conv2dAttrs c;
    c.filters = 4;
    c.kernel = {k, k};
    c.bias = false;
    return c;
  }
};

TEST_F(VerifierTest, AcceptsAWellFormedGraph) {
  Value* w = g.add_param("c.weight", f32({4, 3, 3, 3}));
  Node* c = g.add_node(OpKind::Conv2d, conv(3), {x, w}, {"c"}, {f32({1, 4, 6, 6})});
  g.add_output(c->output());
  EXPECT_TRUE(verify(g, diag)) << out.str();
}

TEST_F(VerifierTest, RejectsWrongResultType) {
  Value* w = g.add_param("c.weight", f32({4, 3, 3, 3}));
  Node* c = g.add_node(OpKind::Conv2d, conv(3), {x, w}, {"c"}, {f32({1, 4, 8, 8})});
  g.add_output(c->output());
  EXPECT_FALSE(verify(g, diag));
  EXPECT_NE(out.str().find("result %c has type f32[1,4,8,8], but conv2d gives f32[1,4,6,6]"),
            std::string::npos)
      << out.str();
}

TEST_F(VerifierTest, RejectsWrongParamShapeAndKind) {
  Value* w = g.add_param("c.weight", f32({4, 3, 5, 5}));
  Node* c = g.add_node(OpKind::Conv2d, conv(3), {x, w}, {"c"}, {f32({1, 4, 6, 6})});
  Node* bad = g.add_node(OpKind::Conv2d, conv(3), {x, x}, {"d"}, {f32({1, 4, 6, 6})});
  g.add_output(c->output());
  g.add_output(bad->output());
  EXPECT_FALSE(verify(g, diag));
  EXPECT_NE(
      out.str().find("parameter @c.weight (weight) has type f32[4,3,5,5], needs f32[4,3,3,3]"),
      std::string::npos);
  EXPECT_NE(out.str().find("operand %x must be a parameter"), std::string::npos);
}

TEST_F(VerifierTest, RejectsUseBeforeDefinitionAndDuplicateNames) {
  Graph other;
  Value* y = other.add_input("y", f32({1, 3}));
  Node* a = other.add_node(OpKind::Relu, NoAttrs{}, {y}, {"a"}, {f32({1, 3})});
  Node* b = other.add_node(OpKind::Relu, NoAttrs{}, {y}, {"a"}, {f32({1, 3})});
  a->inputs[0] = b->output();  // uses a later value
  other.add_output(a->output());
  EXPECT_FALSE(verify(other, diag));
  EXPECT_NE(out.str().find("is used before it is defined"), std::string::npos);
  EXPECT_NE(out.str().find("%a is defined twice"), std::string::npos);
}

TEST_F(VerifierTest, ChecksResidualTypeAndOperandCount) {
  Value* w = g.add_param("c.weight", f32({4, 3, 3, 3}));
  Conv2dAttrs c = conv(3);
  c.epilogue.residual = true;
  Node* n = g.add_node(OpKind::Conv2d, c, {x, w, x}, {"c"}, {f32({1, 4, 6, 6})});
  g.add_output(n->output());
  EXPECT_FALSE(verify(g, diag));
  EXPECT_NE(out.str().find("residual %x has type f32[1,3,8,8], needs the result type f32[1,4,6,6]"),
            std::string::npos)
      << out.str();
  Graph h;
  Value* z = h.add_input("z", f32({1, 3}));
  h.add_output(h.add_node(OpKind::Add, AddAttrs{}, {z}, {"s"}, {f32({1, 3})})->output());
  EXPECT_FALSE(verify(h, diag));
  EXPECT_NE(out.str().find("add takes 2 or more data input(s)"), std::string::npos) << out.str();
}

}  // namespace
}  // namespace cnnc::ir
