#include "passes/pass_manager.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "frontend/spec_reader.h"
#include "ir/parser.h"
#include "passes/memory_plan.h"
#include "passes/passes.h"

namespace cnnc::passes {
namespace {

ir::Graph parse(const std::string& text) {
  std::ostringstream err;
  DiagnosticEngine diag(err);
  auto g = ir::parse_ir(text, make_file_loc("t.cnnir"), diag);
  EXPECT_TRUE(g) << err.str();
  return std::move(*g);
}

// A pass that changes a result's type, which the verifier must catch.
class BreakIr : public Pass {
 public:
  std::string_view name() const override { return "break-ir"; }
  bool run(ir::Graph& g, PassContext&) override {
    g.nodes()[0]->output()->type.shape.dims[1] = 99;
    return true;
  }
};

TEST(PassManagerDeathTest, APassThatBreaksTheIrIsAnInternalErrorNamingIt) {
  ir::Graph g = parse("graph \"g\" {\n  input %x: f32[1,4]\n  %r = relu(%x)\n  output %r\n}\n");
  ::testing::FLAGS_gtest_death_test_style = "threadsafe";
  EXPECT_EXIT(
      {
        PassManager pm({"dce"}, {});
        pm.add(std::make_unique<BreakIr>());
        PassContext ctx;
        pm.run(g, ctx);
      },
      ::testing::ExitedWithCode(70),
      "internal error: .*pass 'break-ir' produced invalid IR.*result %r has type f32\\[1,99\\].*"
      "note: the IR before 'break-ir' is in cnnc-reproducer-break-ir.cnnir \\(pipeline: "
      "dce,break-ir\\)");
  std::ifstream repro("cnnc-reproducer-break-ir.cnnir");
  std::stringstream text;
  text << repro.rdbuf();
  EXPECT_NE(text.str().find("%r = relu(%x): f32[1,4]"), std::string::npos) << text.str();
  std::remove("cnnc-reproducer-break-ir.cnnir");
}

TEST(PassManager, RecordsStatsAndRemarksAndParsesPipelines) {
  ir::Graph g = parse(
      "graph \"g\" {\n  input %x: f32[1,2,3,3]\n  param @c.weight: f32[2,2,1,1]\n"
      "  %c = conv2d(%x, @c.weight) {filters=2, kernel=[1,1], bias=false}\n  %r = relu(%c)\n"
      "  %s = softmax(%r)\n  output %s\n}\n");
  std::ostringstream err;
  DiagnosticEngine diag(err);
  std::vector<std::string> names;
  ASSERT_TRUE(parse_pipeline("default", Mode::Inference, names, diag));
  EXPECT_EQ(names, default_pipeline(Mode::Inference));
  EXPECT_FALSE(parse_pipeline("dce,fuse-activaton", Mode::Inference, names, diag));
  EXPECT_NE(err.str().find("did you mean 'fuse-activation'?"), std::string::npos);
  PassManager pm({"fuse-activation", "plan-memory"}, {});
  PassContext ctx;
  EXPECT_TRUE(pm.run(g, ctx));
  EXPECT_EQ(
      format_pass_stats(ctx),
      "fuse-activation: 1 fused\nplan-memory: 2 buffers, 0 concat slices, 0 in place, 0 views\n");
  ASSERT_FALSE(ctx.remarks.empty());
  EXPECT_EQ(ctx.remarks[0].message, "r: fused into conv2d 'c'");
  EXPECT_EQ(g.nodes().size(), 2u);
}

// The acceptance of the memory planner: within 10 % of the lower bound for
// every example, at batch 1 and 8, after the default pipeline.
TEST(MemoryPlan, ExamplesAreWithinTenPercentOfTheLowerBound) {
  for (const char* net : {"lenet5", "alexnet", "vgg16", "googlenet", "resnet50", "resnet152",
                          "densenet121", "mobilenet_v2", "squeezenet1_1"}) {
    for (int64_t batch : {1, 8}) {
      std::ostringstream err;
      DiagnosticEngine diag(err);
      auto g =
          frontend::read_json_spec(std::string(CNNC_EXAMPLES_DIR) + "/" + net + ".json", {}, diag);
      ASSERT_TRUE(g) << net << err.str();
      ASSERT_TRUE(ir::set_batch(*g, batch, {}, diag));
      PassManager pm(default_pipeline(Mode::Inference), {});
      PassContext ctx;
      pm.run(*g, ctx);
      MemoryStats m = memory_stats(*g);
      EXPECT_LE(static_cast<double>(m.planned_bytes),
                1.10 * static_cast<double>(m.lower_bound_bytes))
          << net << " batch " << batch;
      EXPECT_GE(m.planned_bytes, m.lower_bound_bytes) << net;
      for (const auto& n : g->nodes()) {
        const ir::Value* v = n->output();
        ASSERT_TRUE(v->arena_offset.has_value()) << v->name;
        EXPECT_EQ(*v->arena_offset % 4, 0) << v->name;
        EXPECT_LE(*v->arena_offset + v->bytes(), *g->arena_bytes) << v->name;
      }
    }
  }
}

}  // namespace
}  // namespace cnnc::passes
