#include <sys/stat.h>

#include <filesystem>
#include <iostream>
#include <new>

#include "frontend/load_network.h"
#include "ir/shape_inference.h"
#include "support/file_io.h"
#include "tools/cnnc/verbs.h"

namespace cnnc::tool {

void NetworkOptions::add_to(ArgParser& p) {
  p.int_option("--batch", "N", "batch size: replaces dim 0 of every input (default: as in NET)",
               &batch, 1, (int64_t{1} << 31) - 1);
  p.repeated_option(
      "--input-shape", "NAME=NxCxHxW",
      "shape of an input the model leaves open: a Caffe Data layer's top, an ONNX input\nwith "
      "symbolic dims (may be repeated)",
      [this](const std::string& v) {
        size_t eq = v.find('=');
        if (eq == std::string::npos || eq == 0 || eq + 1 == v.size())
          return std::string("expected NAME=NxCxHxW, e.g. data=1x3x224x224");
        std::vector<int64_t> dims;
        size_t start = eq + 1;
        while (start <= v.size()) {
          size_t x = v.find('x', start);
          std::string d = v.substr(start, x == std::string::npos ? std::string::npos : x - start);
          if (d.empty() || d.size() > 10 ||
              d.find_first_not_of("0123456789") != std::string::npos || std::stoll(d) < 1 ||
              std::stoll(d) > ir::kMaxDim)
            return "dimension '" + d + "' is not an integer in 1..2147483647";
          dims.push_back(std::stoll(d));
          if (x == std::string::npos) break;
          start = x + 1;
        }
        if (dims.size() > 8) return std::string("at most 8 dimensions");
        frontend.input_shapes.emplace_back(v.substr(0, eq), dims);
        return std::string();
      });
  p.int_option("--max-input-size", "BYTES", "largest input file read (default 64 MiB)",
               &frontend.max_input_size, 1, INT64_MAX);
  p.int_option("--max-layers", "N", "most layers after block expansion (default 100000)",
               &frontend.max_layers, 1, INT32_MAX);
  p.flag("--large-buffers", "allow tensors of more than 2^31-1 elements",
         &frontend.shapes.large_buffers);
  p.flag("--strict-shapes",
         "make it an error when a window op leaves input rows or columns unread\n(floor of a "
         "non-integer output "
         "size; a warning by default)",
         &frontend.shapes.strict_shapes);
  p.flag("--allow-paths-outside-model-dir",
         "let \"weights\" name a file outside the spec's directory",
         &frontend.allow_paths_outside_model_dir);
  p.flag("-Werror", "treat warnings as errors", &werror);
  p.int_option("--max-errors", "N", "stop after N errors (default 20)", &max_errors, 1, 100000);
}

DiagnosticOptions NetworkOptions::diagnostics() const {
  DiagnosticOptions d;
  d.max_errors = static_cast<int>(max_errors);
  d.warnings_as_errors = werror;
  return d;
}

std::optional<ir::Graph> load_for_verb(const std::string& net, const NetworkOptions& o,
                                       DiagnosticEngine& diag) {
  frontend::FrontendOptions fo = o.frontend;
  fo.batch = o.batch;
  auto g = frontend::load_network(net, fo, diag);
  if (!g) return std::nullopt;
  if (o.batch > 0 && !ir::set_batch(*g, o.batch, o.frontend.shapes, diag)) return std::nullopt;
  return g;
}

void emit_output(const std::string& path, const std::string& input, const std::string& text,
                 DiagnosticEngine& diag) {
  if (path.empty() || path == "-") {
    std::cout << text;
    std::cout.flush();
    return;
  }
  if (emit_guard(path, input, diag)) write_output_file_atomically(path, text, diag);
}

bool emit_guard(const std::string& path, const std::string& input, DiagnosticEngine& diag) {
  struct stat out_st = {};
  struct stat in_st = {};
  if (::stat(path.c_str(), &out_st) == 0 && ::stat(input.c_str(), &in_st) == 0 &&
      out_st.st_dev == in_st.st_dev && out_st.st_ino == in_st.st_ino)
    diag.fatal(make_file_loc(path), "refusing to overwrite the input file", {}, ExitCode::Usage);
  return true;
}

namespace {

// Whether two paths name one regular file (or, neither existing yet, the
// same place). Devices such as /dev/null may be named by several outputs.
bool same_regular_file(const std::string& a, const std::string& b) {
  struct stat sa = {};
  struct stat sb = {};
  const bool ea = ::stat(a.c_str(), &sa) == 0;
  const bool eb = ::stat(b.c_str(), &sb) == 0;
  if (ea && eb) return S_ISREG(sa.st_mode) && sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  if (ea || eb) return false;
  std::error_code ec1, ec2;
  auto ca = std::filesystem::weakly_canonical(std::filesystem::absolute(a, ec1), ec1);
  auto cb = std::filesystem::weakly_canonical(std::filesystem::absolute(b, ec2), ec2);
  return !ec1 && !ec2 && ca == cb;
}

}  // namespace

void guard_outputs(const std::vector<std::string>& outputs, const std::vector<std::string>& inputs,
                   DiagnosticEngine& diag) {
  for (size_t i = 0; i < outputs.size(); ++i) {
    if (outputs[i].empty() || outputs[i] == "-") continue;
    for (const std::string& in : inputs)
      if (!in.empty() && same_regular_file(outputs[i], in)) {
        diag.error(make_file_loc(outputs[i]), "refusing to overwrite the input file '" + in + "'",
                   {}, ExitCode::Usage);
        break;
      }
    for (size_t j = 0; j < i; ++j)
      if (same_regular_file(outputs[i], outputs[j])) {
        diag.error(make_file_loc(outputs[i]),
                   "two outputs of this command are the same file ('" + outputs[j] + "' and '" +
                       outputs[i] + "')",
                   {}, ExitCode::Usage);
        break;
      }
  }
  diag.check();
}

void add_output_option(ArgParser& p, const char* what, std::string* out) {
  p.option("-o", "FILE", std::string("write ") + what + " to FILE instead of stdout (atomically)",
           [out](const std::string& v) {
             *out = v;
             return std::string();
           });
}

std::optional<int> parse_verb_args(ArgParser& p, const std::vector<std::string>& args) {
  switch (p.parse(args, std::cout, std::cerr)) {
    case ArgParser::Result::Help:
      return 0;
    case ArgParser::Result::Error:
      return static_cast<int>(ExitCode::Usage);
    case ArgParser::Result::Ok:
      break;
  }
  return std::nullopt;
}

int network_verb(ArgParser& p, const std::vector<std::string>& args, NetworkOptions& opts,
                 const std::string& net,
                 const std::function<void(ir::Graph&, DiagnosticEngine&)>& body) {
  opts.add_to(p);
  if (auto done = parse_verb_args(p, args)) return *done;
  DiagnosticEngine diag(std::cerr, opts.diagnostics());
  return run_verb(diag, [&] {
    if (auto g = load_for_verb(net, opts, diag)) body(*g, diag);
  });
}

int run_verb(DiagnosticEngine& diag, const std::function<void()>& body) {
  try {
    body();
  } catch (const DiagnosticsAbort&) {
  } catch (const std::bad_alloc&) {
    diag.error(SourceLoc{}, "out of memory", {}, ExitCode::ResourceLimit);
  }
  return static_cast<int>(diag.exit_code());
}

}  // namespace cnnc::tool
