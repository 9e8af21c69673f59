#include "support/json_reader.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <unordered_map>

namespace cnnc::json {

const Value* Value::find(std::string_view key) const {
  const Member* m = find_member(key);
  return m ? &m->value : nullptr;
}

const Member* Value::find_member(std::string_view key) const {
  for (const Member& m : members)
    if (m.key == key) return &m;
  return nullptr;
}

const char* kind_phrase(Kind k) {
  switch (k) {
    case Kind::Null:
      return "null";
    case Kind::Bool:
      return "a boolean";
    case Kind::Number:
      return "a number";
    case Kind::String:
      return "a string";
    case Kind::Array:
      return "an array";
    case Kind::Object:
      return "an object";
  }
  return "a value";
}

namespace {

struct Failure {
  Pos pos;
  std::string message;
};

std::string byte_hex(unsigned char c) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%02X", c);
  return buf;
}

class Parser {
 public:
  Parser(std::string_view s, const Limits& l) : s_(s), limits_(l) {}

  Value parse_document() {
    if (s_.size() >= 2 && ((uint8_t(s_[0]) == 0xFF && uint8_t(s_[1]) == 0xFE) ||
                           (uint8_t(s_[0]) == 0xFE && uint8_t(s_[1]) == 0xFF)))
      fail("UTF-16 text is not supported; save the file as UTF-8");
    // A UTF-8 byte-order mark is allowed and skipped (RFC 8259 section 8.1).
    if (s_.substr(0, 3) == "\xEF\xBB\xBF") i_ = 3;  // not a column
    skip_ws();
    if (at_end()) fail("expected a JSON value, found end of file");
    Value v = parse_value(0);
    skip_ws();
    if (!at_end()) fail("unexpected " + describe_here() + " after the JSON value");
    return v;
  }

 private:
  [[noreturn]] void fail(std::string msg) { throw Failure{pos_, std::move(msg)}; }
  [[noreturn]] void fail_at(Pos p, std::string msg) { throw Failure{p, std::move(msg)}; }

  bool at_end() const { return i_ >= s_.size(); }
  char peek() const { return s_[i_]; }

  void advance(size_t n = 1) {
    for (size_t k = 0; k < n && i_ < s_.size(); ++k) {
      unsigned char c = static_cast<unsigned char>(s_[i_++]);
      // Only ASCII is advanced over here; take_utf8 handles multi-byte characters.
      if (c == '\n') {
        ++pos_.line;
        pos_.col = 1;
      } else {
        ++pos_.col;
      }
    }
  }

  std::string describe_here() const {
    if (at_end()) return "end of file";
    unsigned char c = static_cast<unsigned char>(peek());
    if (c >= 0x20 && c < 0x7F) return std::string("'") + char(c) + "'";
    return "byte " + byte_hex(c);
  }

  void skip_ws() {
    while (!at_end()) {
      char c = peek();
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        advance();
      } else if (c == '/' && i_ + 1 < s_.size() && (s_[i_ + 1] == '/' || s_[i_ + 1] == '*')) {
        fail("comments are not allowed in JSON");
      } else {
        break;
      }
    }
  }

  void expect(char c, const char* context) {
    skip_ws();
    if (at_end() || peek() != c)
      fail(std::string("expected '") + c + "' " + context + ", found " + describe_here());
    advance();
  }

  Value parse_value(int depth) {
    skip_ws();
    if (at_end()) fail("expected a value, found end of file");
    Value v;
    v.pos = pos_;
    char c = peek();
    if (c == '{' || c == '[') {
      if (depth + 1 > limits_.max_depth)
        fail("nesting deeper than " + std::to_string(limits_.max_depth));
      if (c == '{')
        parse_object(v, depth + 1);
      else
        parse_array(v, depth + 1);
    } else if (c == '"') {
      v.kind = Kind::String;
      v.text = parse_string();
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      parse_number(v);
    } else if (match_word("true")) {
      v.kind = Kind::Bool;
      v.boolean = true;
    } else if (match_word("false")) {
      v.kind = Kind::Bool;
      v.boolean = false;
    } else if (match_word("null")) {
      v.kind = Kind::Null;
    } else if (s_.substr(i_, 3) == "NaN" || s_.substr(i_, 8) == "Infinity") {
      fail("NaN and Infinity are not valid JSON numbers");
    } else {
      fail("expected a value, found " + describe_here());
    }
    return v;
  }

  bool match_word(std::string_view w) {
    if (s_.substr(i_, w.size()) != w) return false;
    size_t end = i_ + w.size();
    if (end < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[end])) || s_[end] == '_'))
      return false;
    advance(w.size());
    return true;
  }

  void parse_object(Value& v, int depth) {
    v.kind = Kind::Object;
    advance();  // '{'
    std::unordered_map<std::string, Pos> seen;
    skip_ws();
    if (!at_end() && peek() == '}') {
      advance();
      return;
    }
    while (true) {
      skip_ws();
      if (at_end() || peek() != '"') {
        if (!at_end() && peek() == '}') fail("trailing comma before '}'");
        fail("expected a string key, found " + describe_here());
      }
      if (static_cast<int64_t>(v.members.size()) >= limits_.max_object_members)
        fail("more than " + std::to_string(limits_.max_object_members) + " members in one object");
      Member m;
      m.key_pos = pos_;
      m.key = parse_string();
      if (auto it = seen.find(m.key); it != seen.end()) {
        fail_at(m.key_pos, "duplicate key \"" + m.key + "\" (first at " +
                               std::to_string(it->second.line) + ":" +
                               std::to_string(it->second.col) + ")");
      }
      seen.emplace(m.key, m.key_pos);
      expect(':', "after an object key");
      m.value = parse_value(depth);
      v.members.push_back(std::move(m));
      skip_ws();
      if (at_end()) fail("expected ',' or '}', found end of file");
      if (peek() == ',') {
        advance();
        continue;
      }
      if (peek() == '}') {
        advance();
        return;
      }
      fail("expected ',' or '}' in an object, found " + describe_here());
    }
  }

  void parse_array(Value& v, int depth) {
    v.kind = Kind::Array;
    advance();  // '['
    skip_ws();
    if (!at_end() && peek() == ']') {
      advance();
      return;
    }
    while (true) {
      skip_ws();
      if (!at_end() && peek() == ']') fail("trailing comma before ']'");
      v.items.push_back(parse_value(depth));
      skip_ws();
      if (at_end()) fail("expected ',' or ']', found end of file");
      if (peek() == ',') {
        advance();
        continue;
      }
      if (peek() == ']') {
        advance();
        return;
      }
      fail("expected ',' or ']' in an array, found " + describe_here());
    }
  }

  static void append_utf8(std::string& out, uint32_t cp) {
    if (cp < 0x80) {
      out += char(cp);
    } else if (cp < 0x800) {
      out += char(0xC0 | (cp >> 6));
      out += char(0x80 | (cp & 0x3F));
    } else if (cp < 0x10000) {
      out += char(0xE0 | (cp >> 12));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    } else {
      out += char(0xF0 | (cp >> 18));
      out += char(0x80 | ((cp >> 12) & 0x3F));
      out += char(0x80 | ((cp >> 6) & 0x3F));
      out += char(0x80 | (cp & 0x3F));
    }
  }

  uint32_t parse_hex4() {
    uint32_t v = 0;
    for (int k = 0; k < 4; ++k) {
      if (at_end()) fail("unterminated \\u escape");
      char c = peek();
      int d = (c >= '0' && c <= '9')   ? c - '0'
              : (c >= 'a' && c <= 'f') ? c - 'a' + 10
              : (c >= 'A' && c <= 'F') ? c - 'A' + 10
                                       : -1;
      if (d < 0) fail("invalid \\u escape: expected 4 hex digits");
      v = v * 16 + uint32_t(d);
      advance();
    }
    return v;
  }

  // Validates one UTF-8 sequence starting at i_ and appends it to out.
  void take_utf8(std::string& out) {
    unsigned char c = static_cast<unsigned char>(peek());
    int len = (c >= 0xC2 && c <= 0xDF)   ? 2
              : (c >= 0xE0 && c <= 0xEF) ? 3
              : (c >= 0xF0 && c <= 0xF4) ? 4
                                         : 0;
    if (len == 0 || i_ + len > s_.size()) fail("invalid UTF-8 byte " + byte_hex(c));
    uint32_t cp = c & (0xFF >> (len + 1));
    for (int k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s_[i_ + k]);
      if ((cc & 0xC0) != 0x80) fail("invalid UTF-8 byte " + byte_hex(c));
      cp = (cp << 6) | (cc & 0x3F);
    }
    // Overlong forms, surrogates and values past U+10FFFF are not UTF-8.
    if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
        (cp >= 0xD800 && cp <= 0xDFFF))
      fail("invalid UTF-8 byte " + byte_hex(c));
    out.append(s_.substr(i_, len));
    // One column per character, not per byte.
    i_ += len;
    ++pos_.col;
  }

  std::string parse_string() {
    Pos start = pos_;
    advance();  // opening quote
    std::string out;
    while (true) {
      if (at_end()) fail_at(start, "unterminated string");
      unsigned char c = static_cast<unsigned char>(peek());
      if (c == '"') {
        advance();
        return out;
      }
      if (c == '\n') fail_at(start, "unterminated string (newline inside a string)");
      if (c < 0x20) fail("control character " + byte_hex(c) + " must be escaped in a string");
      if (c == '\\') {
        advance();
        if (at_end()) fail_at(start, "unterminated string");
        char e = peek();
        advance();
        switch (e) {
          case '"':
            out += '"';
            break;
          case '\\':
            out += '\\';
            break;
          case '/':
            out += '/';
            break;
          case 'b':
            out += '\b';
            break;
          case 'f':
            out += '\f';
            break;
          case 'n':
            out += '\n';
            break;
          case 'r':
            out += '\r';
            break;
          case 't':
            out += '\t';
            break;
          case 'u': {
            uint32_t cp = parse_hex4();
            if (cp >= 0xD800 && cp <= 0xDBFF) {
              if (s_.substr(i_, 2) != "\\u") fail("unpaired UTF-16 surrogate in \\u escape");
              advance(2);
              uint32_t lo = parse_hex4();
              if (lo < 0xDC00 || lo > 0xDFFF) fail("unpaired UTF-16 surrogate in \\u escape");
              cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
            } else if (cp >= 0xDC00 && cp <= 0xDFFF) {
              fail("unpaired UTF-16 surrogate in \\u escape");
            }
            append_utf8(out, cp);
            break;
          }
          default:
            fail(std::string("invalid escape '\\") + e + "' in a string");
        }
        continue;
      }
      if (c >= 0x80) {
        take_utf8(out);
        continue;
      }
      out += char(c);
      advance();
    }
  }

  void parse_number(Value& v) {
    v.kind = Kind::Number;
    size_t start = i_;
    bool integral = true;
    if (peek() == '-') advance();
    if (at_end() || !std::isdigit(static_cast<unsigned char>(peek())))
      fail("invalid number: expected a digit");
    if (peek() == '0') {
      advance();
      if (!at_end() && std::isdigit(static_cast<unsigned char>(peek())))
        fail("invalid number: leading zeros are not allowed");
    } else {
      while (!at_end() && std::isdigit(static_cast<unsigned char>(peek()))) advance();
    }
    if (!at_end() && peek() == '.') {
      integral = false;
      advance();
      if (at_end() || !std::isdigit(static_cast<unsigned char>(peek())))
        fail("invalid number: expected a digit after '.'");
      while (!at_end() && std::isdigit(static_cast<unsigned char>(peek()))) advance();
    }
    if (!at_end() && (peek() == 'e' || peek() == 'E')) {
      integral = false;
      advance();
      if (!at_end() && (peek() == '+' || peek() == '-')) advance();
      if (at_end() || !std::isdigit(static_cast<unsigned char>(peek())))
        fail("invalid number: expected a digit in the exponent");
      while (!at_end() && std::isdigit(static_cast<unsigned char>(peek()))) advance();
    }
    v.text = std::string(s_.substr(start, i_ - start));
    const char* b = v.text.data();
    const char* e = b + v.text.size();
    if (integral) {
      auto r = std::from_chars(b, e, v.int_value);
      v.is_int = r.ec == std::errc() && r.ptr == e;
    }
    auto r = std::from_chars(b, e, v.number);
    if (r.ec == std::errc::result_out_of_range) {
      // Out of range: overflow becomes ±inf, underflow 0 (the text keeps what was written).
      bool neg = v.text[0] == '-';
      size_t e_at = v.text.find_first_of("eE");
      bool tiny = e_at != std::string::npos && e_at + 1 < v.text.size() && v.text[e_at + 1] == '-';
      v.number = tiny ? 0.0 : (neg ? -HUGE_VAL : HUGE_VAL);
    }
  }

  std::string_view s_;
  const Limits& limits_;
  size_t i_ = 0;
  Pos pos_;
};

void render(const Value& v, std::string& out) {
  switch (v.kind) {
    case Kind::Null:
      out += "null";
      break;
    case Kind::Bool:
      out += v.boolean ? "true" : "false";
      break;
    case Kind::Number:
      out += v.text;
      break;
    case Kind::String:
      out += quote(v.text);
      break;
    case Kind::Array:
      out += '[';
      for (size_t k = 0; k < v.items.size(); ++k) {
        if (k) out += ", ";
        render(v.items[k], out);
      }
      out += ']';
      break;
    case Kind::Object:
      out += '{';
      for (size_t k = 0; k < v.members.size(); ++k) {
        if (k) out += ", ";
        out += '"' + v.members[k].key + "\": ";
        render(v.members[k].value, out);
      }
      out += '}';
      break;
  }
}

}  // namespace

std::optional<Value> parse(std::string_view text, const Limits& limits, ParseError& err) {
  try {
    Parser p(text, limits);
    return p.parse_document();
  } catch (const Failure& f) {
    err.pos = f.pos;
    err.message = f.message;
    return std::nullopt;
  }
}

std::string quote(std::string_view s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned char>(c));
      out += buf;
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string to_string(const Value& v) {
  std::string out;
  render(v, out);
  return out;
}

}  // namespace cnnc::json
