#include "support/numeric_diff.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace cnnc {
namespace {

const float kNan = std::numeric_limits<float>::quiet_NaN();
const float kInf = std::numeric_limits<float>::infinity();

TEST(NumericDiff, EqualValuesPass) {
  std::vector<float> v{1, -2, 0.5f, kNan, kInf, -kInf};
  NumericDiff d = numeric_diff(v, v, {});
  EXPECT_TRUE(d.ok()) << d.str();
  EXPECT_EQ(d.nonfinite, 0);
  EXPECT_EQ(d.max_abs, 0);
}

// A NaN on one side only fails, whichever side (std::max(x, NaN) dropped it
// before, and an all-NaN output passed with "max |diff| 0").
TEST(NumericDiff, NanOnOneSideFails) {
  std::vector<float> want{1, 2, 3}, got{1, kNan, 3};
  NumericDiff d = numeric_diff(got, want, {}, "y");
  EXPECT_FALSE(d.ok());
  EXPECT_EQ(d.nonfinite, 1);
  EXPECT_EQ(d.where, "'y'[1]: nan vs 2");
  EXPECT_FALSE(numeric_diff(want, got, {}).ok());
  std::vector<float> all_nan(3, kNan);
  EXPECT_FALSE(numeric_diff(all_nan, want, {}).ok());
}

TEST(NumericDiff, InfinitiesMustAgreeInSign) {
  std::vector<float> want{kInf, 1}, got{-kInf, 1}, big{3e38f, 1};
  EXPECT_FALSE(numeric_diff(got, want, {}).ok());
  EXPECT_FALSE(numeric_diff(big, want, {}).ok());
  EXPECT_TRUE(numeric_diff(want, want, {}).ok());
}

// Per element: a 10 % error in one of 1000 softmax outputs (~1e-3 each)
// fails; the old 1e-4 * max(1, max|ref|) let it pass.
TEST(NumericDiff, ToleranceIsPerElement) {
  std::vector<float> want(1000, 1e-3f), got = want;
  got[7] = 1.1e-3f;
  NumericDiff d = numeric_diff(got, want, {1e-4, 1e-5}, "prob");
  EXPECT_FALSE(d.ok());
  EXPECT_NEAR(d.max_abs, 1e-4, 1e-9);
  EXPECT_EQ(d.where.substr(0, 10), "'prob'[7]:");
  got[7] = 1.00005e-3f;  // 5e-5 relative: within rtol
  EXPECT_TRUE(numeric_diff(got, want, {1e-4, 1e-5}).ok());
}

// Elements near zero in a tensor of large ones get the floor, a fraction of
// the largest |want|.
TEST(NumericDiff, FloorFollowsTheLargestValue) {
  std::vector<float> want{1000, 0}, got{1000, 0.005f};
  EXPECT_TRUE(numeric_diff(got, want, {1e-4, 1e-5}).ok());  // 0.005 <= 1e-5 * 1000
  got[1] = 0.02f;
  EXPECT_FALSE(numeric_diff(got, want, {1e-4, 1e-5}).ok());
}

TEST(NumericDiff, LengthMismatchFails) {
  std::vector<float> a{1, 2}, b{1, 2, 3};
  EXPECT_FALSE(numeric_diff(a, b, {}).ok());
}

TEST(NumericDiff, MergeKeepsTheWorst) {
  std::vector<float> w{1}, g1{1.00001f}, g2{1.1f};
  NumericDiff d = numeric_diff(g1, w, {}, "a");
  d.merge(numeric_diff(g2, w, {}, "b"));
  EXPECT_FALSE(d.ok());
  EXPECT_EQ(d.where.substr(0, 3), "'b'");
  EXPECT_EQ(d.elements, 2);
}

}  // namespace
}  // namespace cnnc
