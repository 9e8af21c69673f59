#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "frontend/spec_reader.h"
#include "io/float_bits.h"
#include "io/npy.h"
#include "io/safetensors.h"
#include "io/weights.h"

namespace cnnc::io {
namespace {

ir::Tensor tensor(std::vector<int64_t> dims, std::vector<float> v) {
  ir::Tensor t{ir::Shape{std::move(dims)}};
  t.data = std::move(v);
  return t;
}

TEST(Safetensors, RoundTripsWithMetadataAndAlignedData) {
  ir::Tensor a = tensor({2, 3}, {1, 2, 3, 4, 5, -6.5f}), b = tensor({}, {42});
  std::string bytes = serialize_safetensors({{"a", &a}, {"b.x", &b}}, {{"k", "v \"q\""}});
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i)
    n = (n << 8) | static_cast<unsigned char>(bytes[static_cast<size_t>(i)]);
  EXPECT_EQ((8 + n) % 8, 0u);  // data 8-byte aligned
  std::ostringstream err;
  DiagnosticEngine diag(err);
  auto back = parse_safetensors(bytes, "t.safetensors", diag);
  ASSERT_TRUE(back) << err.str();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0].name, "a");
  EXPECT_EQ((*back)[0].tensor.data, a.data);
  EXPECT_EQ((*back)[1].tensor.shape.rank(), 0);
  EXPECT_EQ((*back)[1].tensor.data, b.data);
}

TEST(Safetensors, HeaderLengthWithLowByte0x80IsNotAPickle) {
  // Regression: the first byte is the header length's low byte.
  ir::Tensor t = tensor({1}, {1});
  std::string name;
  std::string bytes;
  for (int len = 1; len < 300; ++len) {
    name.assign(static_cast<size_t>(len), 'w');
    bytes = serialize_safetensors({{name, &t}}, {});
    if (static_cast<unsigned char>(bytes[0]) == 0x80) break;
  }
  ASSERT_EQ(static_cast<unsigned char>(bytes[0]), 0x80);
  std::ostringstream err;
  DiagnosticEngine diag(err);
  EXPECT_TRUE(parse_safetensors(bytes, "t.safetensors", diag)) << err.str();
}

TEST(Safetensors, EntryLimitCountsTensorsWithOrWithoutMetadata) {
  // The limit is on tensors: three tensors are one too many for a limit of
  // two whether or not a __metadata__ member is also there.
  ir::Tensor t = tensor({1}, {1});
  SafetensorsLimits limits;
  limits.max_entries = 2;
  auto parse = [&](const std::string& bytes) {
    std::ostringstream err;
    DiagnosticEngine diag(err);
    bool ok = parse_safetensors(bytes, "t.safetensors", diag, limits).has_value();
    return std::make_pair(ok, err.str());
  };
  for (bool meta : {false, true}) {
    Metadata m;
    if (meta) m.emplace_back("k", "v");
    auto two = parse(serialize_safetensors({{"a", &t}, {"b", &t}}, m));
    EXPECT_TRUE(two.first) << two.second;
    auto three = parse(serialize_safetensors({{"a", &t}, {"b", &t}, {"c", &t}}, m));
    EXPECT_FALSE(three.first) << "metadata " << meta;
    EXPECT_NE(three.second.find("header lists more than 2 tensors (the limit)"), std::string::npos)
        << three.second;
  }
}

TEST(FloatBits, HalfPrecisionIsExact) {
  EXPECT_EQ(half_to_float(0x3C00), 1.0f);
  EXPECT_EQ(half_to_float(0xC000), -2.0f);
  EXPECT_EQ(half_to_float(0x3555), 0.333251953125f);
  EXPECT_EQ(half_to_float(0x0001), std::ldexp(1.0f, -24));  // smallest subnormal
  EXPECT_EQ(half_to_float(0x03FF), std::ldexp(1023.0f, -24));
  EXPECT_EQ(half_to_float(0x7BFF), 65504.0f);
  EXPECT_TRUE(std::isinf(half_to_float(0x7C00)));
  EXPECT_TRUE(std::isnan(half_to_float(0x7E00)));
  EXPECT_TRUE(std::signbit(half_to_float(0x8000)));
}

TEST(Npy, RoundTripsAndPadsTheHeaderTo64Bytes) {
  for (auto dims : std::vector<std::vector<int64_t>>{{2, 3, 4}, {5}, {}}) {
    ir::Tensor t{ir::Shape{dims}};
    for (size_t i = 0; i < t.data.size(); ++i) t.data[i] = static_cast<float>(i) * 0.5f - 1;
    std::string bytes = serialize_npy(t);
    size_t hlen = static_cast<unsigned char>(bytes[8]) | static_cast<unsigned char>(bytes[9]) << 8;
    EXPECT_EQ((10 + hlen) % 64, 0u);
    EXPECT_EQ(bytes[10 + hlen - 1], '\n');
    std::ostringstream err;
    DiagnosticEngine diag(err);
    auto back = parse_npy(bytes, "t.npy", diag);
    ASSERT_TRUE(back) << err.str();
    EXPECT_EQ(back->shape, t.shape);
    EXPECT_EQ(back->data, t.data);
  }
  ir::Tensor one{ir::Shape{{5}}};
  EXPECT_NE(serialize_npy(one).find("'shape': (5,)"),
            std::string::npos);  // a 1-tuple needs its comma
}

TEST(InitWeights, DeterministicPerNameAndFollowsTheRules) {
  std::ostringstream err;
  DiagnosticEngine diag(err);
  auto read = [&] {
    return frontend::read_json_spec_text(
        R"({"cnnc": 1, "inputs": {"x": {"shape": [1, 16, 8, 8]}}, "layers": [
        {"name": "c", "type": "conv2d", "filters": 64, "kernel": 3, "pad": 1},
        {"name": "bn", "type": "batch_norm"}, {"name": "r", "type": "relu"},
        {"name": "fc", "type": "linear", "units": 300}]})",
        make_file_loc("n.json"), "/nonexistent", {}, diag);
  };
  auto g1 = read(), g2 = read();
  ASSERT_TRUE(g1 && g2) << err.str();
  init_weights(*g1, 5);
  init_weights(*g2, 5);
  const ir::Tensor& w = *g1->params()[0]->data;  // c.weight: He normal through BN to ReLU
  EXPECT_EQ(w.data, g2->params()[0]->data->data);
  double sum = 0, sq = 0;
  for (float v : w.data) {
    sum += v;
    sq += double(v) * v;
  }
  double n = static_cast<double>(w.size()), sd = std::sqrt(sq / n - (sum / n) * (sum / n));
  EXPECT_NEAR(sd, std::sqrt(2.0 / (16 * 9)), 0.01);  // gain sqrt(2), fan_in 16*3*3
  const ir::Tensor& fc =
      *g1->params()[6]->data;  // fc.weight: Xavier uniform, bound sqrt(6/(fan_in+fan_out))
  double bound = std::sqrt(6.0 / (64 * 64 + 300));
  float lo = *std::min_element(fc.data.begin(), fc.data.end()),
        hi = *std::max_element(fc.data.begin(), fc.data.end());
  EXPECT_LE(hi, bound);
  EXPECT_GE(lo, -bound);
  EXPECT_GT(hi, 0.95 * bound);
  EXPECT_EQ(g1->params()[2]->data->data, std::vector<float>(64, 1.0f));  // bn.gamma
  EXPECT_EQ(g1->params()[5]->data->data, std::vector<float>(64, 1.0f));  // bn.running_var
  EXPECT_EQ(g1->params()[1]->data->data, std::vector<float>(64, 0.0f));  // c.bias
  init_weights(*g2, 6);
  EXPECT_NE(g2->params()[0]->data->data, w.data);
}

}  // namespace
}  // namespace cnnc::io
