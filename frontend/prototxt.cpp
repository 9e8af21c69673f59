#include "frontend/prototxt.h"

#include <cctype>

namespace cnnc::frontend::prototxt {

std::vector<const Field*> Field::all(std::string_view n) const {
  std::vector<const Field*> out;
  for (const Field& f : fields)
    if (f.name == n) out.push_back(&f);
  return out;
}

const Field* Field::find(std::string_view n) const {
  const Field* out = nullptr;
  for (const Field& f : fields)
    if (f.name == n) out = &f;
  return out;
}

namespace {

struct SyntaxError {
  int32_t line, col;
  std::string message;
};

class Parser {
 public:
  Parser(std::string_view s, int max_depth) : s_(s), max_depth_(max_depth) {}

  Field top() {
    Field root;
    root.is_message = true;
    root.line = 1;
    root.col = 1;
    fields(root, 0, '\0');
    return root;
  }

 private:
  [[noreturn]] void fail(int32_t line, int32_t col, std::string m) {
    throw SyntaxError{line, col, std::move(m)};
  }
  [[noreturn]] void fail_here(std::string m) { fail(line_, col_, std::move(m)); }

  void skip() {
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == '#') {
        while (i_ < s_.size() && s_[i_] != '\n') adv();
      } else if (std::isspace(static_cast<unsigned char>(c))) {
        adv();
      } else {
        break;
      }
    }
  }
  void adv() {
    if (i_ >= s_.size()) return;  // callers may step past a '\0' peek() made up at the end
    if (s_[i_] == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    ++i_;
  }
  bool at_end() {
    skip();
    return i_ >= s_.size();
  }
  char peek() { return at_end() ? '\0' : s_[i_]; }

  static bool ident_start(char c) {
    return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
  }
  static bool ident_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.';
  }

  std::string identifier() {
    std::string t;
    while (i_ < s_.size() && ident_char(s_[i_])) {
      t += s_[i_];
      adv();
    }
    return t;
  }

  // Fields until `close` ('}' or '>') or the end of input at depth 0.
  void fields(Field& msg, int depth, char close) {
    for (;;) {
      char c = peek();
      if (c == '\0') {
        if (close) fail_here(std::string("expected \"") + close + "\" before the end of the file");
        return;
      }
      if (close && c == close) {
        adv();
        return;
      }
      if (c == ',' || c == ';') {
        adv();
        continue;
      }
      if (!ident_start(c)) fail_here("expected a field name, found '" + printable(c) + "'");
      Field f;
      f.line = line_;
      f.col = col_;
      f.name = identifier();
      char n = peek();
      bool colon = n == ':';
      if (colon) {
        adv();
        n = peek();
      }
      if (n == '{' || n == '<') {
        if (depth + 1 > max_depth_) fail_here("nesting deeper than " + std::to_string(max_depth_));
        adv();
        f.is_message = true;
        fields(f, depth + 1, n == '{' ? '}' : '>');
        msg.fields.push_back(std::move(f));
      } else if (!colon) {
        fail_here("expected \":\" or \"{\" after '" + f.name + "'");
      } else if (n == '[') {
        // List syntax: name: [v1, v2] is the field repeated.
        adv();
        if (peek() == ']') {
          adv();
          continue;
        }
        for (;;) {
          Field item = f;
          scalar(item);
          msg.fields.push_back(std::move(item));
          char d = peek();
          adv();
          if (d == ']') break;
          if (d != ',') fail_here("expected \",\" or \"]\" in a list");
        }
      } else {
        scalar(f);
        msg.fields.push_back(std::move(f));
      }
    }
  }

  void scalar(Field& f) {
    char c = peek();
    if (c == '"' || c == '\'') {
      f.kind = ScalarKind::String;
      f.text.clear();
      // Adjacent string literals concatenate.
      while (peek() == '"' || peek() == '\'') f.text += string_literal();
      return;
    }
    if (ident_start(c)) {
      f.kind = ScalarKind::Identifier;
      f.text = identifier();
      return;
    }
    if (c == '-' || c == '+' || c == '.' || std::isdigit(static_cast<unsigned char>(c))) {
      f.kind = ScalarKind::Number;
      std::string t;
      while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' ||
                                s_[i_] == '-' || s_[i_] == '+')) {
        // A sign only at the start or after an exponent marker.
        char ch = s_[i_];
        if ((ch == '-' || ch == '+') && !t.empty() && t.back() != 'e' && t.back() != 'E') break;
        t += ch;
        adv();
      }
      f.text = t;
      return;
    }
    fail_here(c == '\0' ? "expected a value before the end of the file"
                        : "expected a value, found '" + printable(c) + "'");
  }

  std::string string_literal() {
    char q = s_[i_];
    int32_t l = line_, c = col_;
    adv();
    std::string out;
    for (;;) {
      if (i_ >= s_.size() || s_[i_] == '\n') fail(l, c, "unterminated string");
      char ch = s_[i_];
      adv();
      if (ch == q) return out;
      if (ch != '\\') {
        out += ch;
        continue;
      }
      if (i_ >= s_.size()) fail(l, c, "unterminated string");
      char e = s_[i_];
      adv();
      switch (e) {
        case 'n':
          out += '\n';
          break;
        case 't':
          out += '\t';
          break;
        case 'r':
          out += '\r';
          break;
        case '\\':
        case '\'':
        case '"':
          out += e;
          break;
        default:
          out += '\\';
          out += e;
          break;
      }
    }
  }

  static std::string printable(char c) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", u);
      return buf;
    }
    return std::string(1, c);
  }

  std::string_view s_;
  int max_depth_;
  size_t i_ = 0;
  int32_t line_ = 1, col_ = 1;
};

}  // namespace

std::optional<Field> parse(std::string_view text, const SourceLoc& file, int max_depth,
                           DiagnosticEngine& diag) {
  try {
    return Parser(text, max_depth).top();
  } catch (const SyntaxError& e) {
    diag.error(file.at(e.line, e.col), e.message);
    return std::nullopt;
  }
}

}  // namespace cnnc::frontend::prototxt
