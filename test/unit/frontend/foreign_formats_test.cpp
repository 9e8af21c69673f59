// The pieces of the ONNX and Caffe frontends that lit tests reach only
// through whole files: the text-format parser, name mapping, Caffe's layer
// semantics (pooling rounding, BatchNorm + Scale, in-place layers).
#include <gtest/gtest.h>

#include <sstream>

#include "frontend/caffe_reader.h"
#include "frontend/graph_builder.h"
#include "frontend/prototxt.h"
#include "ir/printer.h"

namespace cnnc::frontend {
namespace {

struct ForeignTest : ::testing::Test {
  std::ostringstream out;
  DiagnosticEngine diag{out};
};

TEST_F(ForeignTest, PrototxtParsesListsCommentsAnglesAndConcatenatedStrings) {
  auto root = prototxt::parse(R"(# a comment
name: "a" 'b'   # adjacent strings concatenate
dims: [1, 2, 3]
m < x: -1.5e-3 ; y: ENUM >
m: { x: 2 }
)",
                              make_file_loc("t.prototxt"), 64, diag);
  ASSERT_TRUE(root) << out.str();
  EXPECT_EQ(root->find("name")->text, "ab");
  auto dims = root->all("dims");
  ASSERT_EQ(dims.size(), 3u);
  EXPECT_EQ(dims[2]->text, "3");
  auto ms = root->all("m");
  ASSERT_EQ(ms.size(), 2u);
  EXPECT_EQ(ms[0]->find("x")->text, "-1.5e-3");
  EXPECT_EQ(ms[0]->find("y")->text, "ENUM");
  EXPECT_EQ(ms[1]->find("x")->text, "2");
  EXPECT_EQ(ms[1]->line, 5);
}

TEST_F(ForeignTest, PrototxtReportsPositions) {
  EXPECT_FALSE(prototxt::parse("a {\n  b: }\n", make_file_loc("t.prototxt"), 64, diag));
  EXPECT_NE(out.str().find("t.prototxt:2:6: error: expected a value, found '}'"), std::string::npos)
      << out.str();
}

TEST_F(ForeignTest, SpecNamesAreValidAndUnique) {
  EXPECT_EQ(spec_name("/layer1/layer1.0/conv1/Conv"), "layer1.layer1.0.conv1.Conv");
  EXPECT_EQ(spec_name("onnx::Conv_123"), "onnx..Conv_123");
  EXPECT_EQ(spec_name("7x7 conv"), "_7x7_conv");
  EXPECT_EQ(spec_name(""), "layer");
  ir::Graph g;
  GraphBuilder b(g, diag, {});
  EXPECT_EQ(b.unique_name("a/b"), "a.b");
  EXPECT_EQ(b.unique_name("a.b"), "a.b_2");
}

TEST_F(ForeignTest, CaffeRoundsPoolingUpFoldsScaleIntoBatchNormAndRebindsInPlace) {
  auto g = read_caffe_text(R"(
input: "data"
input_shape { dim: 1 dim: 3 dim: 6 dim: 6 }
layer { name: "bn" type: "BatchNorm" bottom: "data" top: "data" }
layer { name: "sc" type: "Scale" bottom: "data" top: "data" scale_param { bias_term: true } }
layer { name: "relu" type: "ReLU" bottom: "data" top: "data" relu_param { negative_slope: 0.1 } }
layer { name: "pool" type: "Pooling" bottom: "data" top: "pool"
        pooling_param { pool: AVE kernel_size: 3 stride: 2 } }
)",
                           "/nonexistent/n.prototxt", {}, diag);
  ASSERT_TRUE(g) << out.str();
  std::string ir = ir::print_graph(*g);
  // 6x6, kernel 3, stride 2: Caffe gives ceil(3/2)+1 = 3 (floor would give 2).
  EXPECT_NE(ir.find("%pool = avg_pool(%relu) {kernel=[3,3], stride=[2,2], pad=[0,0,0,0], "
                    "ceil_mode=true, count_include_pad=true}: f32[1,3,3,3]"),
            std::string::npos)
      << ir;
  EXPECT_NE(ir.find("%relu = leaky_relu(%bn) {alpha=0.1}"), std::string::npos) << ir;
  EXPECT_EQ(g->nodes().size(), 3u);  // the Scale is the batch norm's gamma and beta
  EXPECT_EQ(g->nodes()[0]->fused, std::vector<std::string>{"sc"});
}

}  // namespace
}  // namespace cnnc::frontend
