#include "backends/llvm/build_library.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "backends/llvm/host_codegen.h"
#include "backends/llvm/link_library.h"
#include "support/interrupt.h"

namespace cnnc::llvmgen {

namespace {

// A temporary beside `path` (same file system, so the final rename is atomic).
std::string sibling_temp(const std::string& path) {
  const std::filesystem::path p(path);
  return (p.parent_path() / ("." + p.filename().string() + ".tmp." + std::to_string(getpid())))
      .string();
}

}  // namespace

halide::BuiltKernels build_library(const halide::LoweredModel& m, const LibraryRequest& request,
                                   const std::string& work_dir, DiagnosticEngine& diag) {
  halide::BuiltKernels kernels =
      halide::build_kernels(m, request.targets, request.kernels, work_dir, diag);
  diag.check();

  HostModel host;
  host.model = &m;
  host.kernel_symbols = kernels.symbols;
  host.targets = request.targets.str();
  if (request.embed_weights) {
    host.embedded_weights_file = work_dir + "/weights.bin";
    std::ofstream blob(host.embedded_weights_file, std::ios::binary);
    const std::string bytes = halide::weights_blob(m);
    blob.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    if (!blob.flush()) {
      diag.error({}, "cannot write " + host.embedded_weights_file + ": " + std::strerror(errno), {},
                 ExitCode::IoError);
      diag.check();
    }
  }
  const std::string host_object = work_dir + "/host.o";
  std::string error;
  if (!emit_host(host, HostOutput::Object, host_object, error)) {
    diag.error({}, error, {}, ExitCode::IoError);
    diag.check();
  }

  LinkInputs in;
  in.host_object = host_object;
  in.kernel_archives = kernels.archives;
  in.halide_runtime = kernels.runtime_object;
  in.work_dir = work_dir;
  in.output = sibling_temp(request.output);
  const bool ok = request.kind == LibraryKind::Shared ? link_shared_library(in, error)
                                                      : link_relocatable_object(in, error);
  std::error_code ec;
  if (ok && !interrupted()) std::filesystem::rename(in.output, request.output, ec);
  if (!ok || ec || interrupted()) {
    std::filesystem::remove(in.output, ec);
    if (interrupted())
      diag.error({}, "interrupted while linking", {}, ExitCode::Interrupted);
    else
      diag.error({}, ok ? "cannot write " + request.output + ": " + ec.message() : error, {},
                 ok ? ExitCode::IoError : ExitCode::Internal);
    diag.check();
  }
  return kernels;
}

}  // namespace cnnc::llvmgen
