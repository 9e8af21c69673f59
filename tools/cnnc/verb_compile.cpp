// cnnc compile: network → optimised, memory-planned graph → Halide kernels +
// LLVM host code + libcnnrt → libNAME.so and NAME.h.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "backends/llvm/build_library.h"
#include "backends/llvm/host_codegen.h"
#include "backends/llvm/model_header.h"
#include "io/safetensors.h"
#include "passes/passes.h"
#include "support/file_io.h"
#include "support/interrupt.h"
#include "support/output_files.h"
#include "support/temp_dir.h"
#include "tools/cnnc/compile_options.h"
#include "tools/cnnc/library_files.h"
#include "tools/cnnc/verbs.h"

namespace cnnc::tool {

namespace {

// A file-name-safe form of the model's name.
std::string file_stem(const std::string& name) {
  std::string s;
  for (char c : name)
    s += std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '.' ? c : '_';
  return s.empty() ? std::string("model") : s;
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The library's weights as the external file cnnc_create reads.
std::string external_weights(const halide::LoweredModel& m) {
  std::vector<ir::Tensor> tensors;
  tensors.reserve(m.weights.size());
  std::vector<std::pair<std::string, const ir::Tensor*>> list;
  for (const halide::WeightTensor& w : m.weights) {
    ir::Tensor t;
    t.shape.dims = w.shape;
    t.data = w.data;
    tensors.push_back(std::move(t));
  }
  for (size_t i = 0; i < m.weights.size(); ++i) list.emplace_back(m.weights[i].name, &tensors[i]);
  return io::serialize_safetensors(
      list, {{"cnnc.network", m.name}, {"cnnc.layout", halide::weights_layout(m)}});
}

}  // namespace

int verb_compile(const std::vector<std::string>& args) {
  NetworkOptions net_opts;
  PipelineOptions pipe("default");
  WeightsOptions w;
  CompileOptions co;
  std::string net, output, emit = "so", store = "embed";
  ArgParser p(
      "cnnc compile NET [-o libNAME.so] [options]",
      "Compiles the network into a shared library that any C or C++ program can load: the\n"
      "optimised, memory-planned graph becomes Halide kernels (one per distinct fused layer,\n"
      "cached), LLVM host code calls them in order in one arena, and libcnnrt provides the C API.\n"
      "Writes libNAME.so and NAME.h (the API and the model's shapes and sizes) side by side.");
  p.positional("NET", kNetHelp, &net);
  p.option("-o", "FILE",
           "output (default: libNAME.so, NAME.o, NAME.h for --emit so/obj/header, NAME from the "
           "network;\n"
           "stdout for the text forms)",
           [&](const std::string& v) {
             output = v;
             return v.empty() ? std::string("-o needs a file") : std::string();
           });
  p.choice("--emit",
           "what to write: so (default), obj (one relocatable object for static linking), header, "
           "halide-stmt\n(the kernels' loop nests), asm (the kernels' assembly), llvm-ir (the host "
           "code)",
           &emit, {"so", "obj", "header", "halide-stmt", "asm", "llvm-ir"});
  p.option(
      "--weights", "embed|external|FILE",
      "embed (default): weights inside the library; external: in NAME.weights.safetensors beside\n"
      "it, read at cnnc_create; FILE: the values from a safetensors file (embedded unless\n"
      "--store-weights external). Without FILE, the spec's \"weights\", else seeded values",
      [&](const std::string& v) {
        if (v == "embed" || v == "external")
          store = v;
        else
          w.path = v;
        return std::string();
      });
  p.choice("--store-weights",
           "embed or external (as --weights embed|external, with --weights FILE)", &store,
           {"embed", "external"});
  w.add_to(p, /*allow_file=*/false);
  co.add_to(p);
  pipe.add_to(p);
  p.epilog(
      "The kernel cache keys each kernel on its algorithm, schedule, targets and the Halide "
      "version;\n"
      "a warm cache makes recompiling a network take seconds. CNNC_CC chooses the C compiler that\n"
      "links (default cc).\n\n"
      "--mode training compiles one optimizer step (the autodiff and optimizer passes before the\n"
      "training pipeline): cnnc_train_step(model, inputs, labels, lr, &loss, prediction) runs\n"
      "forward, loss, backward and the update with generated kernels, updating the weights and\n"
      "optimizer state inside the instance; cnnc_save_weights writes them (see cnnc.h).\n\n"
      "example:\n"
      "  cnnc compile examples/resnet18.json -o libresnet18.so\n"
      "  cc app.c -I. -L. -l:libresnet18.so -Wl,-rpath,'$ORIGIN'\n"
      "  cnnc compile examples/lenet5.json --mode training --batch 64 --momentum 0.9 -o "
      "liblenet5_train.so\n");
  return network_verb(p, args, net_opts, net, [&](ir::Graph& graph, DiagnosticEngine& diag) {
    if (pipe.mode == "training") {
      // The step: the training graph, then the training pipeline.
      if (pipe.passes.empty() || pipe.passes == "default") {
        pipe.passes = "autodiff,optimizer";
        for (const std::string& name : passes::default_pipeline(passes::Mode::Training))
          pipe.passes += "," + name;
      }
    }
    const halide::TargetSet targets = co.targets(diag);
    const std::string stem = file_stem(graph.name);
    if (output.empty()) {
      if (emit == "so") output = "lib" + stem + ".so";
      if (emit == "obj") output = stem + ".o";
      if (emit == "header") output = stem + ".h";
    }
    // No output may replace an input (the network or the weights it reads).
    auto guard = [&](const std::string& out) {
      emit_guard(out, net, diag);
      if (!w.path.empty()) emit_guard(out, w.path, diag);
    };
    if (!output.empty() && output != "-") guard(output);
    if (emit == "so" || emit == "obj") check_writable(output, diag);  // before minutes of work
    InterruptScope interrupts;
    provide_weights(graph, w, diag);
    pipe.run(graph, net_opts.frontend.shapes, diag);
    ensure_planned(graph, pipe.no_verify, net_opts.frontend.shapes, diag);
    halide::LoweredModel m = lower_graph(graph, diag, co);

    std::unique_ptr<TempDir> work_dir = make_work_dir(co, diag);
    const TempDir& work = *work_dir;
    const bool external = store == "external";
    llvmgen::HeaderInfo info;
    info.source = net;
    info.targets = targets.str();
    info.embedded_weights = !external;
    info.library = emit == "so" || emit == "obj" ? std::filesystem::path(output).filename().string()
                                                 : "lib" + stem + ".so";
    info.weights_file = library_stem(info.library) + ".weights.safetensors";

    if (emit == "so" || emit == "obj") {
      // The library, its header and its weights land together or not at all.
      OutputSet out(diag);
      const std::string header = beside(output, library_stem(output) + ".h");
      const std::string wfile = beside(output, info.weights_file);
      // A library written to a device (-o /dev/null) has no directory for
      // its header and weights: they are not written.
      const bool device = resolve_output(output, diag).through;
      if (device)
        diag.note(make_file_loc(output),
                  "the library goes to a device: no header or weights file is written beside it");
      guard(header);
      if (external) guard(wfile);
      llvmgen::LibraryRequest req;
      req.targets = targets;
      req.kernels = co.kernel_options();
      co.apply_tuning_db(m, targets, req.kernels, diag);
      req.embed_weights = !external;
      req.kind = emit == "so" ? llvmgen::LibraryKind::Shared : llvmgen::LibraryKind::Relocatable;
      req.output = out.stage(output, emit == "so" ? 0777 : 0666);
      req.name = output;
      if (!device) out.add(header, llvmgen::model_header(m, info));
      if (external && !device) out.add(wfile, external_weights(m));
      halide::BuiltKernels k = llvmgen::build_library(m, req, work.path(), diag);
      print_build_summary(k, co);
      const int64_t bytes = static_cast<int64_t>(std::filesystem::file_size(req.output));
      out.commit();
      std::string wrote = output + " (" + format_bytes(bytes) + ")";
      if (!device) wrote += ", " + header;
      if (external && !device) wrote += ", " + wfile;
      if (!co.quiet) std::fprintf(stderr, "cnnc: wrote %s\n", wrote.c_str());
    } else if (emit == "header") {
      emit_output(output, net, llvmgen::model_header(m, info), diag);
    } else if (emit == "halide-stmt" || emit == "asm") {
      const auto what = emit == "asm" ? halide::KernelText::Assembly : halide::KernelText::Stmt;
      halide::KernelBuildOptions k;
      co.apply_tuning_db(m, targets, k, diag);
      emit_output(output, net, halide::kernel_text(m, targets, k.schedule, what, work.path()),
                  diag);
    } else {  // llvm-ir
      llvmgen::HostModel host;
      host.model = &m;
      halide::KernelBuildOptions k;
      co.apply_tuning_db(m, targets, k, diag);
      host.kernel_symbols = halide::kernel_symbols(m, targets, k.schedule);
      host.targets = targets.str();
      if (!external)
        host.embedded_weights_file = work.file("weights.bin");  // named, not read, by the IR
      std::string error;
      if (!llvmgen::emit_host(host, llvmgen::HostOutput::LlvmIr, work.file("host.ll"), error)) {
        diag.error({}, error, {}, ExitCode::IoError);
        return;
      }
      emit_output(output, net, read_text(work.file("host.ll")), diag);
    }
  });
}

}  // namespace cnnc::tool
