#include "tools/cnnc/compile_options.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>

#include "backends/halide/tuning_db.h"
#include "passes/pass_manager.h"
#include "support/format.h"

namespace cnnc::tool {

void CompileOptions::add_to(ArgParser& p) {
  p.option(
      "--target", "T",
      "what the kernels are compiled for: 'default' (AVX-512, AVX2 and SSE4.1 variants, the\n"
      "best chosen at run time on each CPU), 'host' (exactly this CPU: may not run elsewhere) or\n"
      "a comma-separated list of Halide targets, most capable first (e.g.\n"
      "x86-64-linux-sse41-avx-f16c-fma-avx2,x86-64-linux-sse41)",
      [this](const std::string& v) {
        target = v;
        return std::string();
      });
  p.int_option("-j", "N", "kernels compiled in parallel (default: all cores)", &jobs, 1, 1024);
  p.option("--cache-dir", "DIR",
           "kernel cache (default: $CNNC_CACHE_DIR, else $XDG_CACHE_HOME/cnnc, else ~/.cache/cnnc)",
           [this](const std::string& v) {
             cache_dir = v;
             return v.empty() ? std::string("--cache-dir needs a directory") : std::string();
           });
  p.flag("--no-cache", "compile every kernel afresh and cache nothing", &no_cache);
  p.flag("--quiet", "no progress line and summary on stderr", &quiet);
  p.option("--tuning-db", "FILE",
           "schedules from a tuning database written by cnnc tune (records for this network's\n"
           "kernels and exactly these targets; other kernels keep their default schedules)",
           [this](const std::string& v) {
             tuning_db = v;
             return v.empty() ? std::string("--tuning-db needs a file") : std::string();
           });
  p.flag("--strict-tuning-db", "malformed lines in the tuning database are errors, not warnings",
         &strict_tuning_db);
  p.flag(
      "--no-winograd",
      "compute every 3x3 convolution directly (default: Winograd F(4x4,3x3) where it pays:\n"
      "stride 1, >= 32 input channels, >= 16 output tiles; ~1e-6 relative rounding differences,\n"
      "and a NaN or infinity in its input spreads over the 4x4 output tile that sees it)",
      &no_winograd);
  p.flag("--keep-temps", "keep the work directory (host object, link log) and print where it is",
         &keep_temps);
}

halide::TargetSet CompileOptions::targets(DiagnosticEngine& diag) const {
  std::string error;
  auto t = halide::TargetSet::parse(target, error);
  if (!t) {
    diag.error({}, "--target: " + error, {}, ExitCode::Usage);
    throw DiagnosticsAbort{};
  }
  return *t;
}

halide::KernelBuildOptions CompileOptions::kernel_options() const {
  halide::KernelBuildOptions k;
  k.jobs = static_cast<int>(jobs);
  if (!no_cache) k.cache_dir = cache_dir.empty() ? halide::default_cache_dir() : cache_dir;
  if (!quiet) {
    // One line rewritten in place on a terminal; one line per compiled kernel
    // in a log, where cached ones would only be noise.
    const bool tty = isatty(2);
    k.progress = [tty](int i, int n, const std::string& what, bool cached, double secs) {
      if (tty) {
        std::fprintf(stderr, "\r\033[Kcnnc: kernel %d/%d %s %s (%.1f s)%s", i, n,
                     cached ? "cached" : "compiled", what.c_str(), secs, i == n ? "\n" : "");
      } else if (!cached) {
        std::fprintf(stderr, "cnnc: kernel %d/%d compiled %s (%.1f s)\n", i, n, what.c_str(), secs);
      }
      std::fflush(stderr);
    };
  }
  return k;
}

void CompileOptions::apply_tuning_db(const halide::LoweredModel& m,
                                     const halide::TargetSet& targets,
                                     halide::KernelBuildOptions& k, DiagnosticEngine& diag) const {
  if (tuning_db.empty()) return;
  auto records = halide::read_tuning_db(tuning_db, strict_tuning_db, diag);
  if (!records) throw DiagnosticsAbort{};
  halide::TunedSchedules tuned(*records, tuning_db, m, targets, diag);
  k.schedule = tuned.schedule_fn();
  k.drop_tuned = [tuned](const halide::KernelSpec& spec) { return tuned.drop(spec); };
  if (!quiet)
    std::fprintf(stderr,
                 "cnnc: tuning database %s: %d of %d kernel variants tuned (%d differ from the "
                 "default schedule), the rest default\n",
                 tuning_db.c_str(), tuned.tuned(), tuned.variants(), tuned.changed());
}

void ensure_planned(ir::Graph& g, bool no_verify, const ir::ShapeOptions& shapes,
                    DiagnosticEngine& diag) {
  if (g.arena_bytes) return;
  diag.note({},
            "the pipeline did not plan memory: running plan-memory (the library runs in its "
            "planned arena)");
  passes::PipelineOptions h;
  h.verify_each = !no_verify;
  passes::PassManager pm({"plan-memory"}, h);
  passes::PassContext ctx(passes::Mode::Inference, shapes);
  pm.run(g, ctx);
}

halide::LoweredModel lower_graph(const ir::Graph& g, DiagnosticEngine& diag,
                                 const CompileOptions& co) {
  halide::LoweredModel m;
  halide::LowerOptions lo;
  lo.winograd = !co.no_winograd;
  if (!halide::lower(g, m, diag, lo)) throw DiagnosticsAbort{};
  return m;
}

std::unique_ptr<TempDir> make_work_dir(const CompileOptions& o, DiagnosticEngine& diag) {
  std::unique_ptr<TempDir> dir;
  try {
    dir = std::make_unique<TempDir>("cnnc-compile");
  } catch (const std::runtime_error& e) {
    diag.error({}, e.what(), {}, ExitCode::IoError);
    throw DiagnosticsAbort{};
  }
  if (o.keep_temps) {
    dir->keep();
    std::fprintf(stderr, "cnnc: work directory %s\n", dir->path().c_str());
  }
  return dir;
}

void check_writable(const std::string& path, DiagnosticEngine& diag) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) {
    diag.error(make_file_loc(path), "cannot write: is a directory", {}, ExitCode::IoError);
    throw DiagnosticsAbort{};
  }
  const std::filesystem::path p(path);
  const std::string probe =
      (p.parent_path().empty() ? std::filesystem::path(".") : p.parent_path()) /
      ("." + p.filename().string() + ".probe." + std::to_string(getpid()));
  const int fd = open(probe.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    diag.error(make_file_loc(path), std::string("cannot write: ") + std::strerror(errno), {},
               ExitCode::IoError);
    throw DiagnosticsAbort{};
  }
  close(fd);
  unlink(probe.c_str());
}

void print_build_summary(const halide::BuiltKernels& k, const CompileOptions& o) {
  if (o.quiet) return;
  std::fprintf(stderr, "cnnc: %zu kernels + runtime (%d compiled, %d cached) in %.1f s\n",
               k.symbols.size(), k.compiled, k.cached, k.seconds);
}

}  // namespace cnnc::tool
