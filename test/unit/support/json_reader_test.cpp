#include "support/json_reader.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace cnnc::json {
namespace {

std::optional<Value> parse_ok(const std::string& s) {
  ParseError e;
  auto v = parse(s, Limits{}, e);
  EXPECT_TRUE(v.has_value()) << s << ": " << e.message;
  return v;
}

ParseError parse_fail(const std::string& s, int depth = 64) {
  ParseError e;
  auto v = parse(s, Limits{depth}, e);
  EXPECT_FALSE(v.has_value()) << s;
  return e;
}

TEST(JsonReader, KeepsPositionsOfKeysAndValues) {
  auto v = parse_ok("{\n  \"a\": [1,\n    \"x\"],\n\t\"b\": true }");
  ASSERT_EQ(v->kind, Kind::Object);
  ASSERT_EQ(v->members.size(), 2u);
  EXPECT_EQ(v->members[0].key_pos.line, 2);
  EXPECT_EQ(v->members[0].key_pos.col, 3);
  const Value& arr = v->members[0].value;
  EXPECT_EQ(arr.pos.line, 2);
  EXPECT_EQ(arr.pos.col, 8);
  EXPECT_EQ(arr.items[1].pos.line, 3);
  EXPECT_EQ(arr.items[1].pos.col, 5);
  EXPECT_EQ(v->members[1].key_pos.col, 2);  // a tab is one column
}

TEST(JsonReader, ColumnsCountCharactersNotBytes) {
  auto v = parse_ok("{\"\xC3\xA9t\xC3\xA9\": 1, \"z\": 2}");
  EXPECT_EQ(v->members[0].key, "\xC3\xA9t\xC3\xA9");
  EXPECT_EQ(v->members[1].key_pos.col, 12);  // { " é t é " : sp 1 , sp "
}

TEST(JsonReader, NumbersKeepTextAndIntegerness) {
  auto v = parse_ok("[3, -7, 2.5, 1e400, 99999999999999999999, 1e-400, 0]");
  EXPECT_TRUE(v->items[0].is_int);
  EXPECT_EQ(v->items[0].int_value, 3);
  EXPECT_EQ(v->items[1].int_value, -7);
  EXPECT_FALSE(v->items[2].is_int);
  EXPECT_DOUBLE_EQ(v->items[2].number, 2.5);
  EXPECT_FALSE(v->items[3].is_int);
  EXPECT_TRUE(std::isinf(v->items[3].number));
  EXPECT_EQ(v->items[3].text, "1e400");
  EXPECT_FALSE(v->items[4].is_int);  // does not fit int64
  EXPECT_EQ(v->items[4].text, "99999999999999999999");
  EXPECT_EQ(v->items[5].number, 0.0);
  EXPECT_TRUE(v->items[6].is_int);
}

TEST(JsonReader, DecodesEscapesAndSurrogatePairs) {
  auto v = parse_ok(R"(["a\"b\\c\/\n\t", "\u00e9\ud83d\ude00"])");
  EXPECT_EQ(v->items[0].text, "a\"b\\c/\n\t");
  EXPECT_EQ(v->items[1].text, "\xC3\xA9\xF0\x9F\x98\x80");
}

TEST(JsonReader, RejectsDuplicateKeysWithBothPositions) {
  ParseError e = parse_fail("{\"kernel\": 3,\n \"kernel\": 5}");
  EXPECT_EQ(e.pos.line, 2);
  EXPECT_EQ(e.pos.col, 2);
  EXPECT_EQ(e.message, "duplicate key \"kernel\" (first at 1:2)");
}

TEST(JsonReader, CapsNestingDepthWithoutRecursingFurther) {
  std::string deep(100000, '[');
  ParseError e = parse_fail(deep);
  EXPECT_EQ(e.message, "nesting deeper than 64");
  EXPECT_EQ(e.pos.col, 65);
  parse_ok(std::string(64, '[') + std::string(64, ']'));
}

TEST(JsonReader, RejectsWhatJsonDoesNotAllow) {
  EXPECT_EQ(parse_fail("{\"a\": 1,}").message, "trailing comma before '}'");
  EXPECT_EQ(parse_fail("[1,]").message, "trailing comma before ']'");
  EXPECT_EQ(parse_fail("{\"a\": NaN}").message, "NaN and Infinity are not valid JSON numbers");
  EXPECT_EQ(parse_fail("// c\n{}").message, "comments are not allowed in JSON");
  EXPECT_EQ(parse_fail("{\"a\": 01}").message, "invalid number: leading zeros are not allowed");
  EXPECT_EQ(parse_fail("\"abc").message, "unterminated string");
  EXPECT_EQ(parse_fail("{\"a\": \"\xE9\"}").message, "invalid UTF-8 byte 0xE9");
  EXPECT_EQ(parse_fail("\xFF\xFE{").message,
            "UTF-16 text is not supported; save the file as UTF-8");
  EXPECT_EQ(parse_fail("[\"\\ud800\"]").message, "unpaired UTF-16 surrogate in \\u escape");
  EXPECT_EQ(parse_fail("{} x").message, "unexpected 'x' after the JSON value");
  EXPECT_EQ(parse_fail("").message, "expected a JSON value, found end of file");
  // Overlong encoding of '/' and an encoded surrogate are not UTF-8.
  EXPECT_EQ(parse_fail("[\"\xC0\xAF\"]").message, "invalid UTF-8 byte 0xC0");
  EXPECT_EQ(parse_fail("[\"\xED\xA0\x80\"]").message, "invalid UTF-8 byte 0xED");
}

TEST(JsonReader, SkipsUtf8ByteOrderMark) {
  auto v = parse_ok("\xEF\xBB\xBF{\"a\": 1}");
  EXPECT_EQ(v->members[0].key_pos.col, 2);
}

}  // namespace
}  // namespace cnnc::json
