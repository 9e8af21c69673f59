// cnnc: the command-line driver. Thin: parses the verb and hands over.
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "support/diagnostics.h"
#include "support/suggest.h"
#include "tools/cnnc/verbs.h"

namespace {

struct Verb {
  const char* name;
  const char* summary;
  int (*run)(const std::vector<std::string>&);
};

const Verb kVerbs[] = {
    {"compile", "compile the network into a shared library with a C API (Halide + LLVM)",
     cnnc::tool::verb_compile},
    {"dump-ir", "print the network as textual IR", cnnc::tool::verb_dump_ir},
    {"init", "write seeded initial weights (safetensors)", cnnc::tool::verb_init},
    {"hparam-search", "search learning rate and weight decay with short training runs",
     cnnc::tool::verb_hparam_search},
    {"import", "convert an ONNX model or Caffe prototxt into a JSON spec", cnnc::tool::verb_import},
    {"report", "per-layer shapes, parameters, MACs, FLOPs, memory and receptive fields",
     cnnc::tool::verb_report},
    {"run", "run a network (reference backend or compiled) or a compiled library (.npy in and out)",
     cnnc::tool::verb_run},
    {"train", "train the network on a dataset (reference backend): checkpoints, resume, log",
     cnnc::tool::verb_train},
    {"tune", "autotune the kernels' schedules for this machine into a tuning database",
     cnnc::tool::verb_tune},
};

void usage(std::ostream& o) {
  o << "usage: cnnc VERB [options]   (cnnc VERB --help for the options of a verb)\n\n"
       "cnnc compiles convolutional networks ahead of time.\n\nverbs:\n";
  for (const Verb& v : kVerbs)
    o << "  " << v.name << std::string(15 - std::strlen(v.name), ' ') << v.summary << "\n";
  o << "\nNET is a .json network spec, an .onnx model, a Caffe .prototxt or a .cnnir textual-IR\n"
       "file.\n"
       "Errors are printed as file:line:col: error: message.\n"
       "exit status: 0 ok, 1 invalid input, 2 usage, 3 resource limit, 4 I/O error, 70 internal "
       "error,\n130 interrupted\n";
}

}  // namespace

// What went to standard output must have reached it: a report written to a
// full disk (`> /dev/full`) is an I/O error, not a truncated success.
static int finish(int status) {
  std::cout.flush();
  if (std::fflush(stdout) != 0 || std::ferror(stdout) || !std::cout) {
    const int err = errno;
    std::fprintf(stderr, "error: cannot write to standard output: %s\n",
                 err ? std::strerror(err) : "write failed");
    return status == 0 ? static_cast<int>(cnnc::ExitCode::IoError) : status;
  }
  return status;
}

static int run(const std::vector<std::string>& args);

int main(int argc, char** argv) { return finish(run({argv + 1, argv + argc})); }

static int run(const std::vector<std::string>& args) {
  if (args.empty()) {
    usage(std::cerr);
    return static_cast<int>(cnnc::ExitCode::Usage);
  }
  const std::string& verb = args[0];
  if (verb == "help" && args.size() > 1) {
    for (const Verb& v : kVerbs)
      if (args[1] == v.name) return v.run({"--help"});
  }
  if (verb == "-h" || verb == "--help" || verb == "help") {
    usage(std::cout);
    return 0;
  }
  if (verb == "--version") {
    std::cout << "cnnc " CNNC_VERSION "\n";
    return 0;
  }
  for (const Verb& v : kVerbs)
    if (verb == v.name) return v.run({args.begin() + 1, args.end()});
  std::vector<std::string> names;
  for (const Verb& v : kVerbs) names.emplace_back(v.name);
  std::cerr << "error: unknown command '" << verb << "'" << cnnc::did_you_mean(verb, names)
            << "\nusage: cnnc VERB [options] (see cnnc --help)\n";
  return static_cast<int>(cnnc::ExitCode::Usage);
}
