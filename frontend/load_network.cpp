#include "frontend/load_network.h"

#include "frontend/caffe_reader.h"
#include "frontend/onnx_reader.h"
#include "ir/parser.h"
#include "ir/verifier.h"
#include "support/file_io.h"

namespace cnnc::frontend {

namespace {

std::string extension(const std::string& path) {
  size_t slash = path.rfind('/');
  size_t dot = path.rfind('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  return path.substr(dot);
}

}  // namespace

std::optional<ir::Graph> parse_cnnir_text(std::string_view text, const std::string& path,
                                          const FrontendOptions& opts, DiagnosticEngine& diag) {
  auto g = ir::parse_ir(text, make_file_loc(path), diag, opts.shapes);
  if (!g || !ir::verify(*g, diag, opts.shapes)) return std::nullopt;
  std::string dir = path.rfind('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
  g->source_dir = dir.empty() ? "/" : dir;
  return g;
}

std::optional<ir::Graph> load_network(const std::string& path, const FrontendOptions& opts,
                                      DiagnosticEngine& diag) {
  std::string ext = extension(path);
  if (ext == ".json") return read_json_spec(path, opts, diag);
  if (ext == ".cnnir")
    return parse_cnnir_text(read_input_file(path, opts.max_input_size, "--max-input-size", diag),
                            path, opts, diag);
  if (ext == ".onnx") return read_onnx(path, opts, diag);
  if (ext == ".prototxt") return read_caffe_prototxt(path, opts, diag);
  SourceLoc loc = make_file_loc(path);
  diag.error(loc, "unknown network format '" + (ext.empty() ? std::string("(no extension)") : ext) +
                      "' (supported: " + kNetworkFormats + ")");
  return std::nullopt;
}

}  // namespace cnnc::frontend
