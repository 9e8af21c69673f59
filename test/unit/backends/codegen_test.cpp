// The compiled-library back end without compiling kernels: the ABI both sides
// of libcnnrt agree on, target parsing, kernel keys and default schedules,
// lowering, the generated header.
#include <gtest/gtest.h>

#include <cstddef>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "backends/halide/kernel_compiler.h"
#include "backends/halide/lower.h"
#include "backends/halide/schedule_space.h"
#include "backends/llvm/host_codegen.h"
#include "backends/llvm/link_library.h"
#include "backends/llvm/model_header.h"
#include "frontend/load_network.h"
#include "passes/pass_manager.h"
#include "passes/passes.h"
#include "runtime/cnnrt_model.h"
#include "test/unit/backends/optimised_graph.h"

namespace cnnc {
namespace {

using llvmgen::StructLayout;

const StructLayout& layout(const std::vector<StructLayout>& all, const std::string& name) {
  for (const StructLayout& l : all)
    if (l.name == name) return l;
  ADD_FAILURE() << "no layout " << name;
  static StructLayout none;
  return none;
}

// The descriptor the compiler emits with LLVM must match what libcnnrt reads.
TEST(HostCodegen, DescriptorLayoutsMatchTheRuntimeHeader) {
  std::vector<StructLayout> all = llvmgen::descriptor_layouts();
  const StructLayout& b = layout(all, "cnnrt_buffer_desc");
  EXPECT_EQ(b.size, sizeof(cnnrt_buffer_desc));
  EXPECT_EQ(b.offsets,
            (std::vector<uint64_t>{
                offsetof(cnnrt_buffer_desc, offset), offsetof(cnnrt_buffer_desc, space),
                offsetof(cnnrt_buffer_desc, index), offsetof(cnnrt_buffer_desc, rank),
                offsetof(cnnrt_buffer_desc, extent), offsetof(cnnrt_buffer_desc, stride)}));
  const StructLayout& t = layout(all, "cnnrt_tensor_desc");
  EXPECT_EQ(t.size, sizeof(cnnrt_tensor_desc));
  EXPECT_EQ(t.offsets, (std::vector<uint64_t>{
                           offsetof(cnnrt_tensor_desc, name), offsetof(cnnrt_tensor_desc, rank),
                           offsetof(cnnrt_tensor_desc, shape), offsetof(cnnrt_tensor_desc, bytes),
                           offsetof(cnnrt_tensor_desc, arena_offset)}));
  const StructLayout& w = layout(all, "cnnrt_weight_desc");
  EXPECT_EQ(w.size, sizeof(cnnrt_weight_desc));
  EXPECT_EQ(w.offsets, (std::vector<uint64_t>{
                           offsetof(cnnrt_weight_desc, name), offsetof(cnnrt_weight_desc, rank),
                           offsetof(cnnrt_weight_desc, shape), offsetof(cnnrt_weight_desc, offset),
                           offsetof(cnnrt_weight_desc, bytes)}));
  const StructLayout& k = layout(all, "cnnrt_kernel_desc");
  EXPECT_EQ(k.size, sizeof(cnnrt_kernel_desc));
  EXPECT_EQ(k.offsets,
            (std::vector<uint64_t>{
                offsetof(cnnrt_kernel_desc, name), offsetof(cnnrt_kernel_desc, op),
                offsetof(cnnrt_kernel_desc, symbol), offsetof(cnnrt_kernel_desc, flops)}));
  const StructLayout& m = layout(all, "cnnrt_model_desc");
  EXPECT_EQ(m.size, sizeof(cnnrt_model_desc));
  EXPECT_EQ(
      m.offsets,
      (std::vector<uint64_t>{
          offsetof(cnnrt_model_desc, abi_version),    offsetof(cnnrt_model_desc, num_inputs),
          offsetof(cnnrt_model_desc, num_outputs),    offsetof(cnnrt_model_desc, num_weights),
          offsetof(cnnrt_model_desc, num_buffers),    offsetof(cnnrt_model_desc, num_kernels),
          offsetof(cnnrt_model_desc, name),           offsetof(cnnrt_model_desc, target),
          offsetof(cnnrt_model_desc, weights_layout), offsetof(cnnrt_model_desc, arena_bytes),
          offsetof(cnnrt_model_desc, weights_bytes),  offsetof(cnnrt_model_desc, embedded_weights),
          offsetof(cnnrt_model_desc, inputs),         offsetof(cnnrt_model_desc, outputs),
          offsetof(cnnrt_model_desc, weights),        offsetof(cnnrt_model_desc, buffers),
          offsetof(cnnrt_model_desc, kernels),        offsetof(cnnrt_model_desc, training),
          offsetof(cnnrt_model_desc, labels_input),   offsetof(cnnrt_model_desc, lr_input),
          offsetof(cnnrt_model_desc, step_input),     offsetof(cnnrt_model_desc, seed_input)}));
}

// The version script exports exactly the functions cnnc.h declares.
TEST(Link, ExportedApiIsWhatTheHeaderDeclares) {
  std::ifstream in(std::string(CNNC_SOURCE_DIR) + "/runtime/cnnc.h");
  std::stringstream text;
  text << in.rdbuf();
  std::set<std::string> declared;
  std::regex fn(R"(\b(cnnc_\w+)\s*\()");
  std::string s = text.str();
  for (auto it = std::sregex_iterator(s.begin(), s.end(), fn); it != std::sregex_iterator(); ++it)
    declared.insert((*it)[1]);
  std::set<std::string> exported(llvmgen::exported_api().begin(), llvmgen::exported_api().end());
  EXPECT_EQ(declared, exported);
}

TEST(Targets, DefaultHostAndLists) {
  std::string error;
  auto def = halide::TargetSet::parse("default", error);
  ASSERT_TRUE(def) << error;
  ASSERT_EQ(def->targets.size(), 3u);
  EXPECT_EQ(halide::isa_of(def->targets[0]), halide::Isa::Avx512);
  EXPECT_EQ(halide::isa_of(def->targets[1]), halide::Isa::Avx2);
  EXPECT_EQ(halide::isa_of(def->targets[2]), halide::Isa::Sse41);
  for (const std::string& t : def->targets) {
    EXPECT_NE(t.find("no_runtime"), std::string::npos) << t;
    EXPECT_NE(t.find("user_context"), std::string::npos) << t;
  }
  auto host = halide::TargetSet::parse("host", error);
  ASSERT_TRUE(host) << error;
  EXPECT_EQ(host->targets.size(), 1u);
  EXPECT_EQ(host->targets[0].find("jit"), std::string::npos);
  auto two =
      halide::TargetSet::parse("x86-64-linux-sse41-avx-f16c-fma-avx2,x86-64-linux-sse41", error);
  ASSERT_TRUE(two) << error;
  EXPECT_EQ(two->targets.size(), 2u);

  EXPECT_FALSE(halide::TargetSet::parse("x86-64-linux-avx3", error));
  EXPECT_NE(error.find("not a Halide target"), std::string::npos) << error;
  EXPECT_FALSE(halide::TargetSet::parse("arm-64-linux", error));
  EXPECT_NE(error.find("x86-64 Linux"), std::string::npos) << error;
  EXPECT_FALSE(halide::TargetSet::parse("x86-64-linux-cuda", error));
  EXPECT_NE(error.find("GPU"), std::string::npos) << error;
  EXPECT_FALSE(
      halide::TargetSet::parse("x86-64-linux-sse41,x86-64-linux-avx-avx2-fma-sse41-f16c", error));
  EXPECT_NE(error.find("fallback"), std::string::npos) << error;
}

halide::KernelSpec conv_spec(int width, int filters) {
  halide::KernelSpec s;
  s.family = halide::Family::Conv;
  halide::Geometry out;
  out.rank = 4;
  out.extent = {width, width, filters, 1};
  out.stride = {1, width, width * width, width * width * filters};
  halide::Geometry w;  // 1x1 kernel, filters -> filters
  w.rank = 4;
  w.extent = {1, 1, filters, filters};
  w.stride = {1, 1, 1, filters};
  s.args = {out, w, out};
  s.conv.filters = filters;
  return s;
}

TEST(Schedules, DefaultsFitTheShapes) {
  for (halide::Isa isa : {halide::Isa::Sse41, halide::Isa::Avx2, halide::Isa::Avx512}) {
    for (int width : {1, 3, 7, 14, 56, 112}) {
      for (int filters : {1, 3, 16, 64}) {
        const halide::KernelSpec spec = conv_spec(width, filters);
        halide::Schedule s = halide::default_schedule(spec, isa);
        // Splits never exceed the extent: the row, or every pixel when fused.
        EXPECT_LE(s.vector * s.tile_x, s.fuse_pixels ? width * width : width) << width;
        EXPECT_EQ(halide::schedule_problem(spec, s), "") << width << " " << filters;
        EXPECT_LE(s.tile_k, filters);
        EXPECT_GE(s.tile_k, 1);
        EXPECT_LE(s.vector, isa == halide::Isa::Avx512 ? 16 : isa == halide::Isa::Avx2 ? 8 : 4);
      }
    }
  }
  EXPECT_EQ(halide::default_schedule(conv_spec(56, 64), halide::Isa::Avx2).vector, 8);
  // Maps narrower than two vectors fill whole vectors with pixels of every row.
  EXPECT_FALSE(halide::default_schedule(conv_spec(56, 64), halide::Isa::Avx2).fuse_pixels);
  const halide::Schedule narrow = halide::default_schedule(conv_spec(7, 64), halide::Isa::Avx2);
  EXPECT_TRUE(narrow.fuse_pixels);
  EXPECT_EQ(narrow.vector * narrow.tile_x, 16);
  EXPECT_EQ(narrow.parallel_split, 1);  // one 7x7 image holds a tile
  EXPECT_TRUE(halide::default_schedule(conv_spec(7, 64), halide::Isa::Avx512).fuse_pixels);
  EXPECT_EQ(halide::default_schedule(conv_spec(56, 64), halide::Isa::Avx512).vector, 16);
  EXPECT_TRUE(halide::default_schedule(conv_spec(56, 64), halide::Isa::Avx2).parallel);
  // Too small to repay threads.
  EXPECT_FALSE(halide::default_schedule(conv_spec(7, 16), halide::Isa::Avx2).parallel);
  // Few outputs but much work (ResNet-50's layer4 3x3 convs): threads pay.
  halide::KernelSpec deep = conv_spec(7, 512);
  deep.args[1].extent = {3, 3, 512, 512};
  EXPECT_TRUE(halide::default_schedule(deep, halide::Isa::Avx2).parallel);
  EXPECT_EQ(halide::default_schedule(deep, halide::Isa::Avx2).tile_k, 6);
  EXPECT_EQ(halide::default_schedule(deep, halide::Isa::Avx512).tile_k, 12);
}

TEST(KernelKeys, EqualSpecsShareAKernelAndVariantsDoNot) {
  halide::KernelSpec a = conv_spec(14, 32), b = conv_spec(14, 32), c = conv_spec(14, 64);
  EXPECT_EQ(a.key(), b.key());
  EXPECT_NE(a.key(), c.key());
  EXPECT_EQ(halide::kernel_symbol(a, "v1"), halide::kernel_symbol(b, "v1"));
  EXPECT_NE(halide::kernel_symbol(a, "v1"), halide::kernel_symbol(a, "v2"));
  // FNV-1a's published vectors: the same hash on every machine and build
  // (the kernel cache and tuning records are keyed on it).
  EXPECT_EQ(halide::stable_hash(""), "cbf29ce484222325");
  EXPECT_EQ(halide::stable_hash("a"), "af63dc4c8601ec8c");
  EXPECT_EQ(halide::stable_hash("cnnc"), "04e0d49115f21f77");
}

using test::optimised;

TEST(Lower, KernelsBuffersAndWeightLayouts) {
  ir::Graph g = optimised(R"(graph "t" {
  input %x: f32[1, 3, 8, 8]
  param @c.weight: f32[4, 3, 3, 3]
  param @c.bias: f32[4]
  param @fc.weight: f32[5, 256]
  param @fc.bias: f32[5]
  %c = conv2d(%x, @c.weight, @c.bias) {filters=4, kernel=[3, 3], pad=[1, 1, 1, 1]}
  %r = relu(%c)
  %f = linear(%r, @fc.weight, @fc.bias) {units=5}
  %s = softmax(%f)
  output %s
})");
  ir::Value* w = g.find_value("fc.weight", true);
  ASSERT_NE(w, nullptr);
  auto values = std::make_shared<ir::Tensor>(w->type.shape);
  for (int64_t i = 0; i < values->size(); ++i) (*values)[i] = static_cast<float>(i % 997) + 1.0f;
  w->data = values;
  halide::LoweredModel m;
  DiagnosticEngine diag(std::cerr);
  ASSERT_TRUE(halide::lower(g, m, diag));
  ASSERT_EQ(m.calls.size(), 3u);  // conv+relu fused; the flatten of linear is a view
  EXPECT_EQ(m.calls[0].layer, "c");
  EXPECT_EQ(m.specs[static_cast<size_t>(m.calls[0].spec)].epilogue.act.op, ir::OpKind::Relu);
  EXPECT_EQ(m.calls[1].op, "linear");
  // Linear weights are stored in blocks of 16 units, [units'/16, F, 16], the
  // units padded with zeros to 64, so the kernel vectorises over units and a
  // tile's rows are adjacent.
  const halide::WeightTensor* fc = nullptr;
  for (const auto& w : m.weights)
    if (w.name == "fc.weight.packed16") fc = &w;
  ASSERT_NE(fc, nullptr);
  EXPECT_EQ(fc->shape, (std::vector<int64_t>{4, 256, 16}));
  EXPECT_EQ(m.specs[static_cast<size_t>(m.calls[1].spec)].block, 16);
  ASSERT_EQ(fc->data.size(), 4u * 256 * 16);
  for (int64_t u = 0; u < 64; ++u)
    for (int64_t f = 0; f < 256; f += 51)
      EXPECT_EQ(fc->data[static_cast<size_t>((u / 16 * 256 + f) * 16 + u % 16)],
                u < 5 ? (*values)[u * 256 + f] : 0.0f)
          << "unit " << u << " feature " << f;
  for (const auto& w : m.weights) EXPECT_EQ(w.offset % 64, 0) << w.name;
  EXPECT_EQ(m.inputs.size(), 1u);
  EXPECT_EQ(m.outputs[0].shape, (std::vector<int64_t>{1, 5}));
  EXPECT_EQ(halide::weights_blob(m).size(), static_cast<size_t>(m.weights_bytes));
  EXPECT_EQ(halide::weights_layout(m).rfind("cnnc-kernel-layout-1:", 0), 0u);

  llvmgen::HeaderInfo info;
  info.library = "libt.so";
  std::string h = llvmgen::model_header(m, info);
  EXPECT_NE(h.find("#define T_INPUT0_SHAPE {1, 3, 8, 8}"), std::string::npos) << h;
  EXPECT_NE(h.find("#define CNNC_MODEL_OUTPUT0_BYTES T_OUTPUT0_BYTES"), std::string::npos);
  EXPECT_NE(h.find("cnnc_create("), std::string::npos);  // the API itself is in the header
}

TEST(ModelHeader, MacroPrefixes) {
  EXPECT_EQ(llvmgen::macro_prefix("resnet50"), "RESNET50");
  EXPECT_EQ(llvmgen::macro_prefix("mini-net.v2"), "MINI_NET_V2");
  EXPECT_EQ(llvmgen::macro_prefix("3d"), "M_3D");
  EXPECT_EQ(llvmgen::macro_prefix(""), "M_");
}

}  // namespace
}  // namespace cnnc
