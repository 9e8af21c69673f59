#include <gtest/gtest.h>

#include <sstream>

#include "support/checked_math.h"
#include "support/diagnostics.h"
#include "support/format.h"
#include "support/suggest.h"

namespace cnnc {
namespace {

TEST(CheckedMath, DetectsOverflow) {
  EXPECT_EQ(checked_mul(int64_t{1} << 31, int64_t{1} << 31), int64_t{1} << 62);
  EXPECT_FALSE(checked_mul(int64_t{1} << 32, int64_t{1} << 31).has_value());
  EXPECT_FALSE(checked_add(INT64_MAX, 1).has_value());
  int64_t dims[] = {2147483647, 2147483647, 2147483647};
  EXPECT_FALSE(checked_product(dims).has_value());
  EXPECT_EQ(sat_mul(INT64_MAX, 2), INT64_MAX);
  EXPECT_EQ(sat_add(INT64_MAX, 5), INT64_MAX);
}

TEST(CheckedMath, FloorAndCeilDivisionRoundTowardInfinities) {
  EXPECT_EQ(floor_div(-1, 2), -1);
  EXPECT_EQ(floor_div(7, 2), 3);
  EXPECT_EQ(ceil_div(7, 2), 4);
  EXPECT_EQ(ceil_div(-1, 2), 0);
  EXPECT_EQ(ceil_div(6, 2), 3);
}

TEST(Suggest, FindsCloseNamesOnly) {
  std::vector<std::string> ops = {"conv2d", "max_pool", "avg_pool", "linear"};
  EXPECT_EQ(closest_match("conv3d", ops), "conv2d");
  EXPECT_EQ(closest_match("maxpool", ops), "max_pool");
  EXPECT_EQ(edit_distance("rleu", "relu"), 1u);  // a swap is one edit
  EXPECT_FALSE(closest_match("transformer", ops).has_value());
  EXPECT_EQ(did_you_mean("kernal", {"kernel", "stride"}, '"'), "; did you mean \"kernel\"?");
  EXPECT_EQ(did_you_mean("zzz", {"kernel"}), "");
}

TEST(Format, Numbers) {
  EXPECT_EQ(format_thousands(61100840), "61,100,840");
  EXPECT_EQ(format_thousands(-1234), "-1,234");
  EXPECT_EQ(format_thousands(0), "0");
  EXPECT_EQ(format_double(0.1), "0.1");
  EXPECT_EQ(format_double(1e-5), "1e-05");
  EXPECT_EQ(format_double(2.0), "2");
  EXPECT_EQ(format_si(4089184256.0), "4.09G");
}

TEST(Diagnostics, PrintsLocationsNotesAndInstantiationChain) {
  std::ostringstream out;
  DiagnosticEngine d(out);
  SourceLoc file = make_file_loc("net.json");
  auto frame =
      std::make_shared<InstantiationFrame>(InstantiationFrame{file.at(40, 9), "layer1.0", "basic"});
  SourceLoc inner = file.at(12, 30);
  inner.from = frame;
  d.error(inner, "bad", {{SourceLoc{}, "a hint"}});
  EXPECT_EQ(out.str(),
            "net.json:12:30: error: bad\nnote: a hint\nnet.json:40:9: note: in instance 'layer1.0' "
            "of block 'basic'\n");
  EXPECT_EQ(d.exit_code(), ExitCode::InvalidInput);
}

TEST(Diagnostics, FirstErrorDecidesExitStatusAndWerrorPromotes) {
  std::ostringstream out;
  DiagnosticOptions o;
  o.warnings_as_errors = true;
  DiagnosticEngine d(out, o);
  d.warning(make_file_loc("a"), "w");
  EXPECT_TRUE(d.has_errors());
  EXPECT_NE(out.str().find("a: error: w [-Werror]"), std::string::npos);
  DiagnosticEngine d2(out);
  d2.error(SourceLoc{}, "x", {}, ExitCode::ResourceLimit);
  d2.error(SourceLoc{}, "y", {}, ExitCode::IoError);
  EXPECT_EQ(d2.exit_code(), ExitCode::ResourceLimit);
}

TEST(Diagnostics, StopsAfterMaxErrors) {
  std::ostringstream out;
  DiagnosticOptions o;
  o.max_errors = 3;
  DiagnosticEngine d(out, o);
  d.error(SourceLoc{}, "1");
  d.error(SourceLoc{}, "2");
  EXPECT_THROW(d.error(SourceLoc{}, "3"), DiagnosticsAbort);
  EXPECT_NE(out.str().find("too many errors (3)"), std::string::npos);
}

}  // namespace
}  // namespace cnnc
