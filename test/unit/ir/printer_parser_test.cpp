#include <gtest/gtest.h>

#include <sstream>

#include "ir/parser.h"
#include "ir/printer.h"
#include "ir/verifier.h"

namespace cnnc::ir {
namespace {

// A graph with every printable feature: params, a fused epilogue with a
// residual, an arena placement, a quoted name, enum and float attributes.
Graph sample() {
  Graph g;
  g.name = "sample net";
  g.weights_path = "w.safetensors";
  Value* x = g.add_input("data", {DType::F32, Shape{{2, 4, 8, 8}}});
  Value* w = g.add_param("c.weight", {DType::F32, Shape{{4, 4, 3, 3}}});
  Conv2dAttrs c;
  c.filters = 4;
  c.kernel = {3, 3};
  c.pad = {1, 1, 1, 1};
  c.bias = false;
  c.epilogue.residual = true;
  c.epilogue.act = {OpKind::Clip, 0, 6};
  Node* conv = g.add_node(OpKind::Conv2d, c, {x, w, x}, {"c"}, {{DType::F32, Shape{{2, 4, 8, 8}}}});
  conv->output()->arena_offset = 4096;
  DropoutAttrs d;
  d.rate = 0.25;
  d.scaling = DropoutScaling::AtTestTime;
  Node* drop = g.add_node(OpKind::Dropout, d, {conv->output()}, {"odd name"},
                          {{DType::F32, Shape{{2, 4, 8, 8}}}});
  g.add_output(drop->output());
  return g;
}

TEST(PrinterParser, RoundTripsEveryFeature) {
  Graph g = sample();
  std::ostringstream err;
  DiagnosticEngine diag(err);
  ASSERT_TRUE(verify(g, diag)) << err.str();
  std::string text = print_graph(g);
  EXPECT_NE(text.find("epilogue=residual+clip(0,6)"), std::string::npos) << text;
  EXPECT_NE(text.find("in arena[4096]"), std::string::npos);
  EXPECT_NE(text.find("%\"odd name\" = dropout(%c) {rate=0.25, scaling=at_test_time}"),
            std::string::npos)
      << text;
  auto back = parse_ir(text, make_file_loc("t.cnnir"), diag);
  ASSERT_TRUE(back) << err.str();
  EXPECT_EQ(print_graph(*back), text);
  EXPECT_EQ(back->weights_path, "w.safetensors");
  Epilogue want;
  want.residual = true;
  want.act = {OpKind::Clip, 0, 6};
  EXPECT_EQ(back->nodes()[0]->as<Conv2dAttrs>().epilogue, want);
}

TEST(PrinterParser, InfersOmittedResultTypes) {
  std::ostringstream err;
  DiagnosticEngine diag(err);
  auto g = parse_ir(
      "graph \"g\" {\n  input %x: f32[1,3,8,8]\n  %p = max_pool(%x) {kernel=[2,2]}\n  %r = "
      "relu(%p)\n  output %r\n}\n",
      make_file_loc("t.cnnir"), diag);
  ASSERT_TRUE(g) << err.str();
  EXPECT_EQ(g->nodes()[1]->output()->type.shape, (Shape{{1, 3, 4, 4}}));
  EXPECT_EQ(g->nodes()[0]->as<PoolAttrs>().stride, (Hw{2, 2}));  // defaults to the kernel
}

struct ParseErrorCase {
  const char* text;
  const char* message;
};

TEST(PrinterParser, ErrorsHaveLineAndColumn) {
  const ParseErrorCase cases[] = {
      {"graph \"g\" {\n  input %x: f32[1,3]\n  %y = relu %x\n}",
       "t.cnnir:3:13: error: expected '(' after the op name"},
      {"graph \"g\" {\n  input %x: f32[1,3]\n  %x = relu(%x)\n  output %x\n}",
       "t.cnnir:3:3: error: '%x' redefined (first at 2:9)"},
      {"graph \"g\" {\n  input %x: f32[1,3]\n  %y = relu(%z)\n  output %y\n}",
       "t.cnnir:3:13: error: '%z' is not defined"},
      {"graph \"g\" {\n  input %x: f32[1,3]\n  %y = rleu(%x)\n}",
       "t.cnnir:3:8: error: unknown op 'rleu'; did you mean 'relu'?"},
      {"graph \"g\" {\n  input %x: f32[1,3]\n  %y = relu(%x): f32[1,4]\n  output %y\n}",
       "t.cnnir:3:18: error: layer 'y': result type f32[1,4] does not match the inferred f32[1,3]"},
      {"graph \"g\" {\n  input %x: f32[1,3]\n  %y = softmax(%x) {axis=2}\n  output %y\n}",
       "t.cnnir:3:26: error: layer 'y': axis 2 is out of range for rank 2"},
      {"graph \"g\" {\n  input %x: f32[1,3]\n  %y = relu(%x) {alpha=1}\n  output %y\n}",
       "t.cnnir:3:18: error: relu has no attribute 'alpha'"},
  };
  for (const auto& c : cases) {
    std::ostringstream err;
    DiagnosticEngine diag(err);
    EXPECT_FALSE(parse_ir(c.text, make_file_loc("t.cnnir"), diag)) << c.text;
    EXPECT_NE(err.str().find(c.message), std::string::npos)
        << "got: " << err.str() << "want: " << c.message;
  }
}

}  // namespace
}  // namespace cnnc::ir
