#include "backends/llvm/build_library.h"

#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "backends/llvm/host_codegen.h"
#include "backends/llvm/link_library.h"
#include "support/file_io.h"
#include "support/interrupt.h"

namespace cnnc::llvmgen {

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
  in.output = request.output;
  const bool ok = request.kind == LibraryKind::Shared ? link_shared_library(in, error)
                                                      : link_relocatable_object(in, error);
  if (!ok || interrupted()) {
    if (interrupted())
      diag.error({}, "interrupted while linking", {}, ExitCode::Interrupted);
    else if (disk_full(request.output) || disk_full(work_dir))
      diag.error(make_file_loc(request.name.empty() ? request.output : request.name),
                 "cannot link the library: no space left on device (" +
                     std::string(disk_full(request.output) ? "its directory"
                                                           : "the work directory " + work_dir) +
                     " is full)",
                 {}, ExitCode::IoError);
    else
      diag.error({}, error, {}, ExitCode::Internal);
    diag.check();
  }
  return kernels;
}

}  // namespace cnnc::llvmgen
