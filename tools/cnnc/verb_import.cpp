#include <iostream>

#include "frontend/spec_writer.h"
#include "io/safetensors.h"
#include "io/weights.h"
#include "tools/cnnc/verbs.h"

namespace cnnc::tool {

namespace {

std::string base_name(const std::string& p) {
  size_t s = p.rfind('/');
  return s == std::string::npos ? p : p.substr(s + 1);
}

}  // namespace

int verb_import(const std::vector<std::string>& args) {
  NetworkOptions net_opts;
  std::string net, out, weights_out;
  ArgParser p(
      "cnnc import MODEL -o NET.json [--weights NET.safetensors] [options]",
      "Converts an ONNX model or a Caffe prototxt into a cnnc JSON spec (one layer per line).\n"
      "With --weights, the model's parameters (ONNX initializers) are written to a safetensors\n"
      "file that the spec names in its \"weights\" entry; layer and tensor names follow the "
      "spec's\n"
      "rules ('/' becomes '.', other characters '_'). A Caffe prototxt has no weights: --weights\n"
      "then writes the seeded initialisation.");
  p.positional("MODEL", "an .onnx model or a Caffe .prototxt (also .json, .cnnir)", &net);
  add_output_option(p, "the spec", &out);
  p.option("--weights", "FILE", "also write the parameters to FILE (safetensors)",
           [&](const std::string& v) {
             weights_out = v;
             return std::string();
           });
  return network_verb(p, args, net_opts, net, [&](ir::Graph& graph, DiagnosticEngine& diag) {
    WeightsOptions w;
    if (!weights_out.empty()) {
      if (!emit_guard(weights_out, net, diag)) return;
      provide_weights(graph, w, diag);
    }
    std::string rel;
    if (!weights_out.empty()) {
      // The spec names the weights relative to its own directory when they sit together.
      std::string out_dir =
          out.rfind('/') == std::string::npos ? "" : out.substr(0, out.rfind('/'));
      std::string w_dir = weights_out.rfind('/') == std::string::npos
                              ? ""
                              : weights_out.substr(0, weights_out.rfind('/'));
      rel = out_dir == w_dir ? base_name(weights_out) : weights_out;
    }
    std::string text =
        frontend::write_json_spec(graph, rel, "imported by cnnc from " + base_name(net));
    if (!weights_out.empty()) {
      io::Metadata meta = {{"cnnc.network", graph.name}};
      io::write_safetensors(weights_out, io::collect_weights(graph), meta, diag);
    }
    emit_output(out, net, text, diag);
  });
}

}  // namespace cnnc::tool
