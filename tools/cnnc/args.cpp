#include "tools/cnnc/args.h"

#include <charconv>
#include <cstdlib>

#include "support/format.h"
#include "support/suggest.h"

namespace cnnc::tool {

std::string parse_int_in(const std::string& s, int64_t lo, int64_t hi, int64_t* out) {
  int64_t v = 0;
  auto r = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || r.ec != std::errc() || r.ptr != s.data() + s.size() || v < lo || v > hi)
    return "must be an integer in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got '" +
           s + "'";
  *out = v;
  return "";
}

std::string parse_double_in(const std::string& s, double lo, double hi, double* out) {
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (s.empty() || *end || !(v >= lo && v <= hi))
    return "must be a number in [" + format_double(lo) + ", " + format_double(hi) + "], got '" + s +
           "'";
  *out = v;
  return "";
}

ArgParser::ArgParser(std::string usage, std::string summary)
    : usage_(std::move(usage)), summary_(std::move(summary)) {}

void ArgParser::flag(std::string name, std::string help, bool* target) {
  opts_.push_back(Opt{std::move(name), "", std::move(help), nullptr, target, false, "", false});
}

void ArgParser::option(std::string name, std::string metavar, std::string help,
                       std::function<std::string(const std::string&)> set) {
  opts_.push_back(Opt{std::move(name), std::move(metavar), std::move(help), std::move(set), nullptr,
                      false, "", false});
}

void ArgParser::repeated_option(std::string name, std::string metavar, std::string help,
                                std::function<std::string(const std::string&)> add) {
  opts_.push_back(Opt{std::move(name), std::move(metavar), std::move(help), std::move(add), nullptr,
                      false, "", true});
}

void ArgParser::int_option(std::string name, std::string metavar, std::string help, int64_t* target,
                           int64_t lo, int64_t hi) {
  option(std::move(name), std::move(metavar), std::move(help),
         [=](const std::string& v) { return parse_int_in(v, lo, hi, target); });
}

void ArgParser::double_option(std::string name, std::string metavar, std::string help,
                              double* target, double lo, double hi) {
  option(std::move(name), std::move(metavar), std::move(help),
         [=](const std::string& v) { return parse_double_in(v, lo, hi, target); });
}

void ArgParser::choice(std::string name, std::string help, std::string* target,
                       std::vector<std::string> choices) {
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : "|") + c;
  option(std::move(name), list, std::move(help), [=](const std::string& v) -> std::string {
    for (const auto& c : choices)
      if (v == c) {
        *target = v;
        return "";
      }
    return "must be one of " + list + ", got '" + v + "'" + did_you_mean(v, choices);
  });
}

void ArgParser::positional(std::string metavar, std::string help, std::string* target) {
  pos_.push_back(Pos{std::move(metavar), std::move(help), target});
}

std::string ArgParser::help() const {
  std::string h = "usage: " + usage_ + "\n\n" + summary_ + "\n";
  if (!pos_.empty()) {
    h += "\narguments:\n";
    for (const auto& p : pos_)
      h += "  " + p.metavar + std::string(p.metavar.size() < 24 ? 24 - p.metavar.size() : 1, ' ') +
           p.help + "\n";
  }
  h += "\noptions:\n";
  auto line = [&](const std::string& left, const std::string& help) {
    h += "  " + left;
    if (left.size() < 30)
      h += std::string(30 - left.size(), ' ');
    else
      h += "\n" + std::string(32, ' ');
    // Indent continuation lines of multi-line help.
    for (char c : help) {
      h += c;
      if (c == '\n') h += std::string(32, ' ');
    }
    h += "\n";
  };
  for (const auto& o : opts_) line(o.name + (o.metavar.empty() ? "" : " " + o.metavar), o.help);
  line("-h, --help", "show this help");
  if (!epilog_.empty()) h += "\n" + epilog_;
  return h;
}

ArgParser::Result ArgParser::parse(const std::vector<std::string>& args, std::ostream& out,
                                   std::ostream& err) {
  size_t next_pos = 0;
  auto usage_error = [&](const std::string& msg) {
    err << "error: " << msg << "\nusage: " << usage_ << " (see --help)\n";
    return Result::Error;
  };
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (a == "-h" || a == "--help") {
      out << help();
      return Result::Help;
    }
    if (a.size() > 1 && a[0] == '-' && a != "-") {
      std::string name = a, value;
      bool has_value = false;
      if (auto eq = a.find('='); eq != std::string::npos) {
        name = a.substr(0, eq);
        value = a.substr(eq + 1);
        has_value = true;
      }
      Opt* o = nullptr;
      for (auto& c : opts_)
        if (c.name == name) o = &c;
      if (!o) {
        std::vector<std::string> names;
        for (const auto& c : opts_) names.push_back(c.name);
        return usage_error("unknown option '" + name + "'" + did_you_mean(name, names));
      }
      if (o->flag) {
        if (has_value) return usage_error("option " + name + " takes no value");
        *o->flag = true;
        o->seen = true;
        continue;
      }
      if (!has_value) {
        if (i + 1 >= args.size())
          return usage_error("option " + name + " needs a value (" + o->metavar + ")");
        value = args[++i];
      }
      if (o->seen && !o->repeatable && o->value != value)
        return usage_error(name + " given twice with different values ('" + o->value + "' and '" +
                           value + "')");
      o->seen = true;
      o->value = value;
      std::string problem = o->set(value);
      if (!problem.empty()) return usage_error(name + " " + problem);
      continue;
    }
    if (next_pos >= pos_.size()) return usage_error("unexpected argument '" + a + "'");
    *pos_[next_pos++].target = a;
  }
  if (next_pos < pos_.size()) return usage_error("missing " + pos_[next_pos].metavar);
  return Result::Ok;
}

}  // namespace cnnc::tool
