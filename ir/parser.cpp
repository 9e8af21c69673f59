#include "ir/parser.h"

#include <charconv>
#include <cmath>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "support/checked_math.h"
#include "support/format.h"
#include "support/suggest.h"

namespace cnnc::ir {

namespace {

enum class Tok { End, Ident, ValueRef, ParamRef, String, Number, Punct };

struct Token {
  Tok kind = Tok::End;
  std::string text;  ///< identifier, decoded name or string, number text, punctuation
  int32_t line = 1, col = 1;
};

struct SyntaxError {};

class Lexer {
 public:
  Lexer(std::string_view s, const SourceLoc& file, DiagnosticEngine& diag)
      : s_(s), file_(file), diag_(diag) {}

  SourceLoc loc(const Token& t) const { return file_.at(t.line, t.col); }

  [[noreturn]] void fail(int32_t line, int32_t col, const std::string& msg) {
    diag_.error(file_.at(line, col), msg);
    throw SyntaxError{};
  }

  Token next() {
    skip();
    Token t;
    t.line = line_;
    t.col = col_;
    if (i_ >= s_.size()) return t;
    char c = s_[i_];
    if (c == '%' || c == '@') {
      get();
      t.kind = c == '%' ? Tok::ValueRef : Tok::ParamRef;
      if (i_ < s_.size() && s_[i_] == '"') {
        t.text = string_body(t);
      } else {
        while (i_ < s_.size() && name_char(s_[i_])) t.text += get();
        if (t.text.empty()) fail(t.line, t.col, std::string("expected a name after '") + c + "'");
      }
      return t;
    }
    if (c == '"') {
      t.kind = Tok::String;
      t.text = string_body(t);
      return t;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      t.kind = Tok::Ident;
      while (i_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '_'))
        t.text += get();
      return t;
    }
    if (std::isdigit(static_cast<unsigned char>(c)) ||
        (c == '-' && i_ + 1 < s_.size() &&
         (std::isdigit(static_cast<unsigned char>(s_[i_ + 1])) || s_.substr(i_ + 1, 3) == "inf"))) {
      t.kind = Tok::Number;
      t.text += get();
      if (s_.substr(i_, 3) == "inf") {
        t.text += "inf";
        get(), get(), get();
        return t;
      }
      while (i_ < s_.size() &&
             (std::isalnum(static_cast<unsigned char>(s_[i_])) || s_[i_] == '.' ||
              ((s_[i_] == '-' || s_[i_] == '+') && (s_[i_ - 1] == 'e' || s_[i_ - 1] == 'E'))))
        t.text += get();
      return t;
    }
    if (std::string_view("{}()[],:=+").find(c) != std::string_view::npos) {
      t.kind = Tok::Punct;
      t.text = std::string(1, get());
      return t;
    }
    unsigned char u = static_cast<unsigned char>(c);
    char buf[16];
    std::snprintf(buf, sizeof buf, "0x%02X", u);
    fail(t.line, t.col,
         u >= 0x20 && u < 0x7F ? std::string("unexpected character '") + c + "'"
                               : std::string("unexpected byte ") + buf);
  }

 private:
  static bool name_char(char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  }

  char get() {
    char c = s_[i_++];
    if (c == '\n') {
      ++line_;
      col_ = 1;
    } else {
      ++col_;
    }
    return c;
  }

  void skip() {
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
        get();
      } else if (c == '/' && i_ + 1 < s_.size() && s_[i_ + 1] == '/') {
        while (i_ < s_.size() && s_[i_] != '\n') get();
      } else {
        break;
      }
    }
  }

  std::string string_body(const Token& t) {
    get();  // opening quote
    std::string out;
    while (true) {
      if (i_ >= s_.size() || s_[i_] == '\n') fail(t.line, t.col, "unterminated string");
      char c = get();
      if (c == '"') return out;
      if (c != '\\') {
        out += c;
        continue;
      }
      if (i_ >= s_.size()) fail(t.line, t.col, "unterminated string");
      char e = get();
      if (e == '"' || e == '\\') {
        out += e;
      } else if (e == 'x' && i_ + 2 <= s_.size() &&
                 std::isxdigit(static_cast<unsigned char>(s_[i_])) &&
                 std::isxdigit(static_cast<unsigned char>(s_[i_ + 1]))) {
        int v = std::stoi(std::string(s_.substr(i_, 2)), nullptr, 16);
        get(), get();
        out += static_cast<char>(v);
      } else {
        fail(line_, col_ - 2, std::string("invalid escape '\\") + e + "' in a string");
      }
    }
  }

  std::string_view s_;
  SourceLoc file_;
  DiagnosticEngine& diag_;
  size_t i_ = 0;
  int32_t line_ = 1, col_ = 1;
};

// An attribute value before it is converted to its field's type.
struct RawAttr {
  enum Kind { Number, List, Word } kind = Number;
  Token at;                 ///< where the value starts
  std::string number;       ///< Number
  std::vector<Token> list;  ///< List of numbers
  struct Part {
    std::string name;
    std::vector<Token> args;
  };
  std::vector<Part> words;  ///< Word: ident(args) + ident(args) ...
};

class Parser {
 public:
  Parser(std::string_view text, const SourceLoc& file, DiagnosticEngine& diag,
         const ShapeOptions& opts)
      : lex_(text, file, diag), diag_(diag), opts_(opts) {}

  std::optional<Graph> run() {
    int errors_before = diag_.error_count();
    try {
      advance();
      parse_graph();
    } catch (const SyntaxError&) {
      return std::nullopt;
    } catch (const DiagnosticsAbort&) {  // too many errors
      return std::nullopt;
    }
    if (diag_.error_count() > errors_before) return std::nullopt;
    return std::move(g_);
  }

 private:
  void advance() { tok_ = lex_.next(); }
  SourceLoc here() const { return lex_.loc(tok_); }
  bool is_punct(char c) const { return tok_.kind == Tok::Punct && tok_.text[0] == c; }
  bool is_word(const char* w) const { return tok_.kind == Tok::Ident && tok_.text == w; }

  std::string describe(const Token& t) const {
    switch (t.kind) {
      case Tok::End:
        return "end of file";
      case Tok::ValueRef:
        return "'%" + t.text + "'";
      case Tok::ParamRef:
        return "'@" + t.text + "'";
      case Tok::String:
        return "a string";
      default:
        return "'" + t.text + "'";
    }
  }

  [[noreturn]] void expected(const std::string& what) {
    lex_.fail(tok_.line, tok_.col, "expected " + what + ", found " + describe(tok_));
  }

  void expect_punct(char c, const std::string& context) {
    if (!is_punct(c)) expected(std::string("'") + c + "'" + context);
    advance();
  }

  int64_t parse_int(const Token& t, const char* what) {
    int64_t v = 0;
    auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
    if (t.kind != Tok::Number || r.ec != std::errc() || r.ptr != t.text.data() + t.text.size())
      lex_.fail(t.line, t.col,
                std::string("expected an integer ") + what + ", found " + describe(t));
    return v;
  }

  double parse_real(const Token& t, const char* what) {
    if (t.kind == Tok::Number && (t.text == "inf" || t.text == "-inf"))
      return t.text[0] == '-' ? -HUGE_VAL : HUGE_VAL;
    double v = 0;
    auto r = std::from_chars(t.text.data(), t.text.data() + t.text.size(), v);
    if (t.kind != Tok::Number || r.ec != std::errc() || r.ptr != t.text.data() + t.text.size())
      lex_.fail(t.line, t.col, std::string("expected a number ") + what + ", found " + describe(t));
    return v;
  }

  void parse_graph() {
    if (!is_word("graph")) expected("'graph'");
    advance();
    if (tok_.kind != Tok::String) expected("the graph name as a string");
    g_.name = tok_.text;
    advance();
    expect_punct('{', " after the graph name");
    while (!is_punct('}')) {
      if (tok_.kind == Tok::End) expected("'}' at the end of the graph");
      statement();
    }
    advance();
    if (tok_.kind != Tok::End) expected("end of file after the graph");
    if (!saw_output_)
      diag_.error(lex_.loc(tok_), "graph '" + g_.name + "' has no 'output' statement");
  }

  void statement() {
    if (is_word("weights")) {
      advance();
      if (tok_.kind != Tok::String) expected("a file name string after 'weights'");
      g_.weights_path = tok_.text;
      advance();
    } else if (is_word("arena")) {
      advance();
      Token t = tok_;
      int64_t n = parse_int(tok_, "arena size");
      if (n < 0) lex_.fail(t.line, t.col, "arena size must be >= 0, got " + std::to_string(n));
      advance();
      g_.arena_bytes = n;
    } else if (is_word("input") || is_word("param")) {
      bool param = tok_.text == "param";
      advance();
      if (tok_.kind != (param ? Tok::ParamRef : Tok::ValueRef))
        expected(param ? "a parameter name '@...'" : "a value name '%...'");
      Token name = tok_;
      advance();
      expect_punct(':', " before the type");
      Token type_at = tok_;
      TensorType t = parse_type();
      Placement placement = parse_placement();
      if (!check_tensor_limits(t, (param ? "parameter '" : "input '") + name.text + "'",
                               lex_.loc(type_at), opts_, diag_))
        return;
      if (!fresh(name, param)) return;
      Value* v = param ? g_.add_param(name.text, t, lex_.loc(name))
                       : g_.add_input(name.text, t, lex_.loc(name));
      place(v, placement);
      (param ? params_ : values_)[name.text] = v;
    } else if (is_word("output")) {
      advance();
      if (tok_.kind != Tok::ValueRef) expected("a value name '%...' after 'output'");
      Token name = tok_;
      advance();
      saw_output_ = true;
      if (poisoned_.count(name.text)) return;
      auto it = values_.find(name.text);
      if (it == values_.end()) {
        undefined(name, false);
        return;
      }
      g_.add_output(it->second);
    } else if (tok_.kind == Tok::ValueRef) {
      node();
    } else {
      expected("'input', 'param', 'output', 'weights', 'arena' or '%name = op(...)'");
    }
  }

  bool fresh(const Token& name, bool param) {
    auto& map = param ? params_ : values_;
    if (auto it = map.find(name.text); it != map.end()) {
      diag_.error(lex_.loc(name), std::string("'") + (param ? "@" : "%") + name.text +
                                      "' redefined (first at " +
                                      std::to_string(it->second->loc.line) + ":" +
                                      std::to_string(it->second->loc.col) + ")");
      return false;
    }
    if (!param && poisoned_.count(name.text)) return false;
    return true;
  }

  void undefined(const Token& name, bool param) {
    const auto& map = param ? params_ : values_;
    std::vector<std::string> names;
    for (const auto& [k, v] : map) names.push_back(k);
    std::sort(names.begin(), names.end());
    std::string hint = did_you_mean(name.text, names);
    if (!param && params_.count(name.text))
      hint = "; it is a parameter: write '@" + name.text + "'";
    if (param && values_.count(name.text)) hint = "; it is a value: write '%" + name.text + "'";
    diag_.error(lex_.loc(name),
                std::string("'") + (param ? "@" : "%") + name.text + "' is not defined" +
                    (param ? " (declare it with 'param @" + name.text + ": f32[...]')" : "") +
                    hint);
  }

  TensorType parse_type() {
    if (tok_.kind != Tok::Ident) expected("a type such as f32[1,3,224,224]");
    if (tok_.text != "f32")
      lex_.fail(tok_.line, tok_.col, "unknown element type '" + tok_.text + "' (supported: f32)");
    advance();
    expect_punct('[', " after the element type");
    TensorType t;
    while (!is_punct(']')) {
      if (!t.shape.dims.empty()) expect_punct(',', " between dimensions");
      if (t.shape.rank() > kMaxRank) lex_.fail(tok_.line, tok_.col, "rank over the limit of 8");
      t.shape.dims.push_back(parse_int(tok_, "dimension"));
      advance();
    }
    advance();
    return t;
  }

  // "in arena[OFFSET]" or "in arena[OFFSET, batch_stride=BYTES]".
  struct Placement {
    std::optional<int64_t> offset;
    int64_t batch_stride = 0;
    Token at;
  };
  Placement parse_placement() {
    Placement p;
    if (!is_word("in")) return p;
    advance();
    if (!is_word("arena")) expected("'arena' after 'in'");
    advance();
    expect_punct('[', " after 'arena'");
    Token t = tok_;
    int64_t off = parse_int(tok_, "arena offset");
    if (off < 0) lex_.fail(t.line, t.col, "arena offset must be >= 0, got " + std::to_string(off));
    advance();
    p.offset = off;
    if (is_punct(',')) {
      advance();
      if (!is_word("batch_stride")) expected("'batch_stride' after the arena offset");
      advance();
      expect_punct('=', " after 'batch_stride'");
      p.at = tok_;
      p.batch_stride = parse_int(tok_, "batch stride");
      if (p.batch_stride <= 0 || p.batch_stride % 4 != 0)
        lex_.fail(p.at.line, p.at.col,
                  "batch stride must be a positive multiple of 4 bytes, got " +
                      std::to_string(p.batch_stride));
      advance();
    }
    expect_punct(']', " after the arena offset");
    return p;
  }

  // A batch stride must leave each image's bytes whole: at least an image apart.
  void place(Value* v, const Placement& p) {
    v->arena_offset = p.offset;
    v->arena_batch_stride = p.batch_stride;
    if (!p.batch_stride) return;
    if (v->kind != ValueKind::Result) {
      diag_.error(lex_.loc(p.at), "'" + v->name + "': only results are slices of the arena");
      return;
    }
    const int64_t n = v->type.shape.rank() ? v->type.shape[0] : 0;
    if (n < 1 || p.batch_stride < v->bytes() / n)
      diag_.error(lex_.loc(p.at), "'" + v->name + "': batch stride " +
                                      std::to_string(p.batch_stride) +
                                      " is less than one image of " + v->type.str() + " (" +
                                      std::to_string(n < 1 ? 0 : v->bytes() / n) + " bytes)");
  }

  // Numbers up to `close`, separated by commas: "[1,2]" or "(0,6)"; the
  // current token is the opening bracket.
  std::vector<Token> number_list(char close, const std::string& what) {
    advance();
    std::vector<Token> out;
    while (!is_punct(close)) {
      if (!out.empty()) expect_punct(',', " between " + what + "s");
      if (tok_.kind != Tok::Number) expected("a number as " + what);
      out.push_back(tok_);
      advance();
    }
    advance();
    return out;
  }

  RawAttr parse_attr_value() {
    RawAttr a;
    a.at = tok_;
    if (tok_.kind == Tok::Number) {
      a.kind = RawAttr::Number;
      a.number = tok_.text;
      advance();
    } else if (is_punct('[')) {
      a.kind = RawAttr::List;
      a.list = number_list(']', "list element");
    } else if (tok_.kind == Tok::Ident) {
      a.kind = RawAttr::Word;
      while (true) {
        if (tok_.kind != Tok::Ident) expected("a name after '+'");
        RawAttr::Part p{tok_.text, {}};
        advance();
        if (is_punct('(')) p.args = number_list(')', "argument");
        a.words.push_back(std::move(p));
        if (!is_punct('+')) break;
        advance();
      }
    } else {
      expected("an attribute value");
    }
    return a;
  }

  // Converts raw attribute values into the typed struct through its field list.
  struct FieldReader {
    Parser& p;
    const std::map<std::string, RawAttr>& raw;
    std::unordered_set<std::string>& used;

    const RawAttr* get(const char* n) {
      auto it = raw.find(n);
      if (it == raw.end()) return nullptr;
      used.insert(n);
      return &it->second;
    }
    [[noreturn]] void bad(const RawAttr& a, const char* n, const std::string& want) {
      p.lex_.fail(a.at.line, a.at.col, std::string("attribute '") + n + "' must be " + want);
    }
    void operator()(const char* n, int64_t& v, const Rule&) {
      if (auto* a = get(n)) {
        if (a->kind != RawAttr::Number) bad(*a, n, "an integer");
        v = p.parse_int(a->at, "value");
      }
    }
    void operator()(const char* n, double& v, const Rule&) {
      if (auto* a = get(n)) {
        if (a->kind != RawAttr::Number) bad(*a, n, "a number");
        v = p.parse_real(a->at, "value");
      }
    }
    void operator()(const char* n, bool& v, const Rule&) {
      if (auto* a = get(n)) {
        if (a->kind != RawAttr::Word || a->words.size() != 1 || !a->words[0].args.empty() ||
            (a->words[0].name != "true" && a->words[0].name != "false"))
          bad(*a, n, "true or false");
        v = a->words[0].name == "true";
      }
    }
    void operator()(const char* n, Hw& v, const Rule&) {
      if (auto* a = get(n)) {
        if (a->kind != RawAttr::List || a->list.size() != 2) bad(*a, n, "a list [h,w]");
        v = {p.parse_int(a->list[0], "height"), p.parse_int(a->list[1], "width")};
      }
    }
    void operator()(const char* n, Pad4& v, const Rule&) {
      if (auto* a = get(n)) {
        if (a->kind != RawAttr::List || a->list.size() != 4)
          bad(*a, n, "a list [top,bottom,left,right]");
        v = {p.parse_int(a->list[0], "pad"), p.parse_int(a->list[1], "pad"),
             p.parse_int(a->list[2], "pad"), p.parse_int(a->list[3], "pad")};
      }
    }
    void operator()(const char* n, DropoutScaling& v, const Rule&) {
      if (auto* a = get(n)) {
        const auto& names = enum_names(v);
        std::string list;
        for (const auto& s : names) list += (list.empty() ? "" : ", ") + s;
        if (a->kind != RawAttr::Word || a->words.size() != 1 || !a->words[0].args.empty())
          bad(*a, n, "one of " + list);
        auto it = std::find(names.begin(), names.end(), a->words[0].name);
        if (it == names.end()) bad(*a, n, "one of " + list + did_you_mean(a->words[0].name, names));
        v = static_cast<DropoutScaling>(it - names.begin());
      }
    }
    void operator()(const char* n, Epilogue& v, const Rule&) {
      const RawAttr* a = get(n);
      if (!a) return;
      if (a->kind != RawAttr::Word) bad(*a, n, "like residual+relu or clip(0,6)");
      for (size_t i = 0; i < a->words.size(); ++i) {
        const auto& w = a->words[i];
        if (w.name == "residual" && i == 0 && w.args.empty()) {
          v.residual = true;
          continue;
        }
        auto op = op_from_name(w.name);
        if (!op || !op_info(*op).is_activation || i + 1 != a->words.size())
          bad(*a, n,
              "[residual][+activation], e.g. residual+relu; '" + w.name + "' is not allowed here");
        v.act.op = op;
        size_t want = *op == OpKind::Clip                                ? 2
                      : (*op == OpKind::LeakyRelu || *op == OpKind::Elu) ? 1
                                                                         : 0;
        if (w.args.size() != want)
          bad(*a, n, std::string("given ") + std::to_string(want) + " argument(s) for " + w.name);
        if (want >= 1) v.act.alpha = p.parse_real(w.args[0], "argument");
        if (want >= 2) v.act.beta = p.parse_real(w.args[1], "argument");
      }
    }
  };

  void node() {
    std::vector<Token> results;
    while (true) {
      if (tok_.kind != Tok::ValueRef) expected("a result name '%...'");
      results.push_back(tok_);
      advance();
      if (!is_punct(',')) break;
      advance();
    }
    expect_punct('=', " after the result names");
    if (tok_.kind != Tok::Ident) expected("an op name");
    Token op_tok = tok_;
    auto op = op_from_name(tok_.text);
    if (!op)
      lex_.fail(tok_.line, tok_.col,
                "unknown op '" + tok_.text + "'" + did_you_mean(tok_.text, all_op_names()));
    advance();
    expect_punct('(', " after the op name");
    std::vector<Token> operands;
    while (!is_punct(')')) {
      if (!operands.empty()) expect_punct(',', " between operands");
      if (tok_.kind != Tok::ValueRef && tok_.kind != Tok::ParamRef)
        expected("an operand '%...' or '@...'");
      operands.push_back(tok_);
      advance();
    }
    advance();
    std::map<std::string, RawAttr> raw;
    std::map<std::string, Token> raw_names;
    if (is_punct('{')) {
      advance();
      while (!is_punct('}')) {
        if (!raw.empty()) expect_punct(',', " between attributes");
        if (tok_.kind != Tok::Ident) expected("an attribute name");
        Token name = tok_;
        advance();
        expect_punct('=', " after the attribute name");
        if (raw.count(name.text))
          lex_.fail(name.line, name.col, "attribute '" + name.text + "' given twice");
        raw_names[name.text] = name;
        raw[name.text] = parse_attr_value();
      }
      advance();
    }
    std::vector<Token> type_toks;
    std::vector<std::optional<TensorType>> types(results.size());
    std::vector<Placement> placements(results.size());
    if (is_punct(':')) {
      advance();
      for (size_t i = 0; i < results.size(); ++i) {
        if (i) expect_punct(',', " between result types");
        type_toks.push_back(tok_);
        types[i] = parse_type();
        placements[i] = parse_placement();
      }
    }
    build_node(*op, op_tok, results, operands, raw, raw_names, types, type_toks, placements);
  }

  void build_node(OpKind op, const Token& op_tok, const std::vector<Token>& results,
                  const std::vector<Token>& operands, const std::map<std::string, RawAttr>& raw,
                  const std::map<std::string, Token>& raw_names,
                  const std::vector<std::optional<TensorType>>& types,
                  const std::vector<Token>& type_toks, const std::vector<Placement>& placements) {
    auto poison = [&] {
      for (const Token& r : results) poisoned_.insert(r.text);
    };
    SourceLoc loc = lex_.loc(results[0]);
    // Attributes.
    Attrs attrs = default_attrs(op);
    std::unordered_set<std::string> used;
    std::visit(
        [&](auto& x) {
          std::decay_t<decltype(x)>::fields(x, FieldReader{*this, raw, used});
        },
        attrs);
    bool ok = true;
    for (const auto& [name, tok] : raw_names) {
      if (used.count(name)) continue;
      std::vector<std::string> known;
      std::visit(
          [&](auto& x) {
            std::decay_t<decltype(x)>::fields(
                x, [&](const char* n, auto&, const Rule&) { known.emplace_back(n); });
          },
          attrs);
      diag_.error(lex_.loc(tok), std::string(op_name(op)) + " has no attribute '" + name + "'" +
                                     did_you_mean(name, known));
      ok = false;
    }
    std::visit(
        [&](auto& x) {
          std::decay_t<decltype(x)>::fields(x, [&](const char* n, auto&, const Rule& r) {
            if (r.is_required && !raw.count(n)) {
              diag_.error(lex_.loc(op_tok), "layer '" + results[0].text + "': " + op_name(op) +
                                                " needs attribute '" + n + "'");
              ok = false;
            }
          });
        },
        attrs);
    derive_defaults(attrs, [&](std::string_view n) { return raw.count(std::string(n)) > 0; });
    auto attr_loc = [&](std::string_view n) {
      auto it = raw.find(std::string(n));
      return it == raw.end() ? loc : lex_.loc(it->second.at);
    };
    for (const auto& p : check_attrs(op, attrs)) {
      diag_.error(attr_loc(p.field), "layer '" + results[0].text + "': " + p.message);
      ok = false;
    }
    // Operands.
    std::vector<Value*> ins;
    for (const Token& t : operands) {
      bool param = t.kind == Tok::ParamRef;
      if (!param && poisoned_.count(t.text)) {
        poison();
        return;
      }
      const auto& map = param ? params_ : values_;
      auto it = map.find(t.text);
      if (it == map.end()) {
        undefined(t, param);
        ok = false;
        continue;
      }
      ins.push_back(it->second);
    }
    for (const Token& r : results)
      if (!fresh(r, false)) ok = false;
    if (!ok) {
      poison();
      return;
    }
    Node probe;
    probe.op = op;
    probe.attrs = attrs;
    probe.inputs = ins;
    auto split = split_operands(probe);
    if (!split) {
      Arity a = data_arity(op);
      int np = num_params(op, attrs);
      const Epilogue* e = epilogue_of(attrs);
      diag_.error(lex_.loc(op_tok), "layer '" + results[0].text + "': " + op_name(op) + " takes " +
                                        std::to_string(a.min) + (a.max < 0 ? " or more" : "") +
                                        " data operand(s), then " + std::to_string(np) +
                                        " parameter(s)" +
                                        (e && e->residual ? ", then the residual" : "") + "; got " +
                                        std::to_string(ins.size()) + " operands");
      poison();
      return;
    }
    std::vector<TensorType> in_types;
    std::vector<std::string> in_names;
    for (Value* d : split->data) {
      in_types.push_back(d->type);
      in_names.push_back(d->name);
    }
    ShapeContext ctx{diag_, loc, results[0].text, attr_loc, in_names, opts_};
    auto shapes = infer_shapes(op, attrs, in_types, ctx);
    if (!shapes) {
      poison();
      return;
    }
    if (shapes->outputs.size() != results.size()) {
      diag_.error(loc, "layer '" + results[0].text + "': " + op_name(op) + " has " +
                           std::to_string(shapes->outputs.size()) + " result(s), " +
                           std::to_string(results.size()) + " named");
      poison();
      return;
    }
    for (size_t i = 0; i < results.size(); ++i) {
      if (types[i] && *types[i] != shapes->outputs[i]) {
        diag_.error(lex_.loc(type_toks[i]), "layer '" + results[0].text + "': result type " +
                                                types[i]->str() + " does not match the inferred " +
                                                shapes->outputs[i].str());
        ok = false;
      }
    }
    for (size_t i = 0; i < shapes->params.size(); ++i) {
      Value* p = split->params[i];
      TensorType want{DType::F32, shapes->params[i].shape};
      if (p->type != want) {
        diag_.error(lex_.loc(operands[split->data.size() + i]),
                    "layer '" + results[0].text + "': parameter '@" + p->name + "' (" +
                        param_suffix(shapes->params[i].role) + ") is " + p->type.str() + ", " +
                        op_name(op) + " needs " + want.str());
        ok = false;
      }
    }
    if (split->residual && split->residual->type != shapes->outputs[0]) {
      diag_.error(lex_.loc(operands.back()),
                  "layer '" + results[0].text + "': residual '%" + split->residual->name + "' is " +
                      split->residual->type.str() + ", needs the result type " +
                      shapes->outputs[0].str());
      ok = false;
    }
    if (!ok) {
      poison();
      return;
    }
    std::vector<std::string> names;
    for (const Token& r : results) names.push_back(r.text);
    Node* n =
        g_.add_node(op, std::move(attrs), std::move(ins), std::move(names), shapes->outputs, loc);
    for (size_t i = 0; i < n->outputs.size(); ++i) {
      n->outputs[i]->loc = lex_.loc(results[i]);
      place(n->outputs[i], placements[i]);
      values_[n->outputs[i]->name] = n->outputs[i];
    }
  }

  Lexer lex_;
  DiagnosticEngine& diag_;
  ShapeOptions opts_;
  Token tok_;
  Graph g_;
  std::unordered_map<std::string, Value*> values_, params_;
  std::unordered_set<std::string> poisoned_;  ///< results of nodes that failed: no follow-up errors
  bool saw_output_ = false;
};

}  // namespace

std::optional<Graph> parse_ir(std::string_view text, const SourceLoc& file, DiagnosticEngine& diag,
                              const ShapeOptions& opts) {
  return Parser(text, file, diag, opts).run();
}

}  // namespace cnnc::ir
