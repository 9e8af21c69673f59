#include "frontend/spec_reader.h"

#include <gtest/gtest.h>

#include <sstream>

#include "ir/printer.h"

namespace cnnc::frontend {
namespace {

struct SpecTest : ::testing::Test {
  std::ostringstream out;
  DiagnosticEngine diag{out};
  std::optional<ir::Graph> read(const std::string& text, FrontendOptions o = {}) {
    return read_json_spec_text(text, make_file_loc("net.json"), "/nonexistent", o, diag);
  }
  std::vector<std::string> names(const ir::Graph& g) {
    std::vector<std::string> v;
    for (const auto& n : g.nodes()) v.push_back(n->name());
    return v;
  }
};

const char* kHead = R"({"cnnc": 1, "inputs": {"x": {"shape": [1, 4, 8, 8]}}, )";

TEST_F(SpecTest, BlocksExpandWithRepeatFirstAndSkippedLayers) {
  auto g = read(std::string(kHead) + R"(
    "blocks": {"res": {"params": {"f": null, "proj": false}, "layers": [
      {"name": "conv", "type": "conv2d", "filters": "$f", "kernel": 3, "pad": 1},
      {"name": "down", "type": "conv2d", "input": "x", "filters": "$f", "kernel": 1, "if": "$proj"},
      {"name": "add", "type": "add", "inputs": ["conv", "down"]}]}},
    "layers": [{"name": "s", "type": "res", "f": 6, "repeat": 2, "first": {"proj": true}},
               {"name": "out", "type": "relu"}]})");
  ASSERT_TRUE(g) << out.str();
  EXPECT_EQ(names(*g), (std::vector<std::string>{"s.0.conv", "s.0.down", "s.0.add", "s.1.conv",
                                                 "s.1.add", "out"}));
  // In instance 1 the skipped 'down' is the block input: add(s.1.conv, s.0.add).
  const ir::Node& add1 = *g->nodes()[4];
  EXPECT_EQ(add1.inputs[1]->name, "s.0.add");
  EXPECT_EQ(g->nodes()[5]->inputs[0]->name, "s.1.add");
  EXPECT_EQ(g->params()[0]->name, "s.0.conv.weight");
}

TEST_F(SpecTest, SamePaddingIsOnnxSameUpper) {
  auto g = read(std::string(kHead) + R"("layers": [
      {"name": "c", "type": "conv2d", "filters": 2, "kernel": 4, "stride": 2, "pad": "same"}]})");
  ASSERT_TRUE(g) << out.str();
  const auto& a = g->nodes()[0]->as<ir::Conv2dAttrs>();
  // in 8, stride 2: out 4, total pad (4-1)*2 + 4 - 8 = 2 -> 1 before, 1 after.
  EXPECT_EQ(a.pad, (ir::Pad4{1, 1, 1, 1}));
  auto g2 = read(std::string(kHead) + R"("layers": [
      {"name": "c", "type": "conv2d", "filters": 2, "kernel": 2, "pad": "same"}]})");
  ASSERT_TRUE(g2) << out.str();
  EXPECT_EQ(g2->nodes()[0]->as<ir::Conv2dAttrs>().pad,
            (ir::Pad4{0, 1, 0, 1}));  // odd pixel bottom/right
}

TEST_F(SpecTest, ErrorInsideBlockNamesInstanceAndBlockLine) {
  auto g = read(std::string(kHead) + "\n" + R"("blocks": {"b": {"params": {"k": 3}, "layers": [
  {"name": "c", "type": "conv2d", "filters": 2, "kernel": "$k"}]}},
"layers": [
  {"name": "ok", "type": "b"},
  {"name": "big", "type": "b", "k": 9}]})");
  EXPECT_FALSE(g);
  // The error points at the block line that uses "$k" (line 3); the note names
  // the instance (line 6, where "k": 9 is given; its input 'ok' is 6x6).
  EXPECT_NE(
      out.str().find(
          "net.json:3:59: error: layer 'big.c': kernel 9x9 is larger than the padded input 6x6"),
      std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("net.json:6:12: note: in instance 'big' of block 'b'"),
            std::string::npos)
      << out.str();
}

TEST_F(SpecTest, BadArgumentTypeNamesBothPlaces) {
  auto g = read(std::string(kHead) + "\n" + R"("blocks": {"b": {"params": {"k": 3}, "layers": [
  {"name": "c", "type": "conv2d", "filters": 2, "kernel": "$k"}]}},
"layers": [{"name": "i", "type": "b", "k": "3"}]})");
  EXPECT_FALSE(g);
  EXPECT_NE(
      out.str().find(
          "net.json:3:59: error: layer 'i.c': \"kernel\" must be an int or [h, w], got a string"),
      std::string::npos)
      << out.str();
  EXPECT_NE(out.str().find("net.json:4:44: note: '$k' is \"3\" here"), std::string::npos)
      << out.str();
}

TEST_F(SpecTest, ReportsSeveralIndependentErrors) {
  auto g = read(std::string(kHead) + R"("layers": [
      {"name": "a", "type": "conv2d", "filters": 0, "kernel": 3},
      {"name": "b", "type": "relu", "input": "x"},
      {"name": "c", "type": "max_pool", "input": "b", "kernel": 2, "strid": 2}]})");
  EXPECT_FALSE(g);
  EXPECT_EQ(diag.error_count(), 2) << out.str();
}

TEST_F(SpecTest, UnreachableLayersAreRemovedWithAWarning) {
  auto g = read(std::string(kHead) + R"("layers": [
      {"name": "a", "type": "relu"}, {"name": "aux", "type": "sigmoid", "input": "x"}, {"name": "b", "type": "tanh", "input": "a"}],
    "outputs": ["b"]})");
  ASSERT_TRUE(g) << out.str();
  EXPECT_EQ(names(*g), (std::vector<std::string>{"a", "b"}));
  EXPECT_NE(out.str().find("warning: layer 'aux' does not reach any output; removed"),
            std::string::npos);
}

TEST_F(SpecTest, ExpansionIsBoundedBeforeExpanding) {
  FrontendOptions o;
  auto g = read(std::string(kHead) + R"("blocks": {
      "a": {"layers": [{"name": "r", "type": "relu"}]},
      "b": {"layers": [{"name": "a", "type": "a", "repeat": 100000}]},
      "c": {"layers": [{"name": "b", "type": "b", "repeat": 100000}]}},
    "layers": [{"name": "bomb", "type": "c", "repeat": 1000000000}]})",
                o);
  EXPECT_FALSE(g);
  EXPECT_NE(out.str().find("more than the limit of 100000 (--max-layers)"), std::string::npos)
      << out.str();
  EXPECT_EQ(diag.exit_code(), ExitCode::ResourceLimit);
}

}  // namespace
}  // namespace cnnc::frontend
