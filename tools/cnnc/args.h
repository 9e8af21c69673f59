// Command-line parsing for cnnc verbs: --flag, --flag=value, --flag value,
// positionals, generated --help, and "did you mean" for unknown options.
// Usage errors exit with status 2.
#pragma once

#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <vector>

namespace cnnc::tool {

class ArgParser {
 public:
  /// `usage`: "cnnc report NET [options]"; `summary`: one paragraph.
  ArgParser(std::string usage, std::string summary);

  /// A boolean flag (no value).
  void flag(std::string name, std::string help, bool* target);
  /// An option with a value; `set` returns an error text, or "" when the value is fine.
  void option(std::string name, std::string metavar, std::string help,
              std::function<std::string(const std::string&)> set);
  /// An integer option in [lo, hi].
  void int_option(std::string name, std::string metavar, std::string help, int64_t* target,
                  int64_t lo, int64_t hi);
  /// A real-number option in [lo, hi].
  void double_option(std::string name, std::string metavar, std::string help, double* target,
                     double lo, double hi);
  /// An option that may be given several times; `add` sees each value in order.
  void repeated_option(std::string name, std::string metavar, std::string help,
                       std::function<std::string(const std::string&)> add);
  /// A string option restricted to `choices`.
  void choice(std::string name, std::string help, std::string* target,
              std::vector<std::string> choices);
  /// The next positional argument (required).
  void positional(std::string metavar, std::string help, std::string* target);
  /// Free text appended to --help (conventions, examples).
  void epilog(std::string text) { epilog_ += text; }

  enum class Result { Ok, Help, Error };
  /// Parses args (without the program and verb). Prints errors or help to `out`.
  Result parse(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);
  std::string help() const;

 private:
  struct Opt {
    std::string name, metavar, help;
    std::function<std::string(const std::string&)> set;  ///< null for flags
    bool* flag = nullptr;
    bool seen = false;
    std::string value;  ///< first value given (repeated options must agree)
    bool repeatable = false;
  };
  struct Pos {
    std::string metavar, help;
    std::string* target;
  };
  std::string usage_, summary_, epilog_;
  std::vector<Opt> opts_;
  std::vector<Pos> pos_;
};

/// Parses a whole decimal integer in [lo, hi]; "" when fine, else a message.
std::string parse_int_in(const std::string& s, int64_t lo, int64_t hi, int64_t* out);
std::string parse_double_in(const std::string& s, double lo, double hi, double* out);

}  // namespace cnnc::tool
