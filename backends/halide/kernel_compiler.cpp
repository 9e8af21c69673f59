#include "backends/halide/kernel_compiler.h"

#include <cpuid.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>
#include <thread>

#include "backends/halide/templates.h"
#include "backends/halide/templates_revision.h"
#include "support/file_io.h"
#include "support/internal_error.h"
#include "support/interrupt.h"
#include "support/temp_dir.h"

namespace cnnc::halide {

namespace {

const char* const kDefaultTargets[] = {
    "x86-64-linux-sse41-avx-f16c-fma-avx2-avx512-avx512_skylake",
    "x86-64-linux-sse41-avx-f16c-fma-avx2",
    "x86-64-linux-sse41",
};

// Everything besides the spec that changes a kernel's code.
std::string variant_key(const KernelSpec& spec, const TargetSet& t, const ScheduleFn& schedule) {
  std::string key = halide_version() + "|templates " + CNNC_TEMPLATES_REVISION;
  for (const std::string& target : t.targets)
    key += "|" + target + ":" + schedule(spec, isa_of(target)).key();
  return key;
}

Halide::Module module_for(const KernelSpec& spec, const Schedule& s, const Halide::Target& target,
                          const std::string& fn) {
  tmpl::Built b = tmpl::build(spec, s);
  return b.output.compile_to_module(b.arguments(), fn, target);
}

std::string first_layer(const LoweredModel& m, size_t spec) {
  for (const KernelCall& c : m.calls)
    if (static_cast<size_t>(c.spec) == spec) return c.layer;
  return "?";
}

std::string unique_suffix() {
  static std::atomic<int> counter{0};
  return "." + std::to_string(getpid()) + "." + std::to_string(counter++) + ".tmp";
}

// A cache entry is used only when its seal, written after it, records its
// size and checksum: a truncated or damaged entry (a full disk, a killed run,
// a stray `truncate`) is compiled again instead of failing every later link.
std::string seal_of(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return "";
  uint64_t h = 14695981039346656037ull, size = 0;
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    const auto n = static_cast<size_t>(in.gcount());
    for (size_t i = 0; i < n; ++i) h = (h ^ static_cast<unsigned char>(buf[i])) * 1099511628211ull;
    size += n;
  }
  char text[64];
  std::snprintf(text, sizeof text, "cnnc-seal-1 %llu %016llx\n",
                static_cast<unsigned long long>(size), static_cast<unsigned long long>(h));
  return text;
}

bool sealed(const std::string& path) {
  std::ifstream seal(path + ".seal");
  std::stringstream text;
  text << seal.rdbuf();
  return seal && !text.str().empty() && text.str() == seal_of(path);
}

// Renames `from` onto `to` and seals it; another process may have published
// it first, which is as good (its seal then matches the same bytes, or the
// entry is rebuilt next time).
void publish(const std::string& from, const std::string& to) {
  std::error_code ec;
  std::filesystem::rename(from, to, ec);
  if (ec) {
    std::filesystem::remove(from, ec);
    return;
  }
  const std::string tmp = to + ".seal" + unique_suffix();
  std::ofstream(tmp) << seal_of(to);
  std::filesystem::rename(tmp, to + ".seal", ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

// Removes temporaries (NAME.PID.N.tmp*) of compiles that were killed.
void remove_stale_temporaries(const std::string& dir) {
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = e.path().filename().string();
    const auto tmp = name.find(".tmp");
    if (tmp == std::string::npos) continue;
    // NAME.PID.N.tmp...: the PID is the second-last dotted field before ".tmp".
    const auto dot_n = name.rfind('.', tmp - 1);
    const auto dot_pid =
        dot_n == std::string::npos ? std::string::npos : name.rfind('.', dot_n - 1);
    if (dot_pid == std::string::npos) continue;
    const long pid = std::strtol(name.c_str() + dot_pid + 1, nullptr, 10);
    if (pid > 0 && pid != getpid() && kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH)
      std::filesystem::remove(e.path(), ec);
  }
}

// Compiles `todo` in `jobs` forked worker processes. Processes, not threads:
// Halide writes each multi-target library with the working directory changed
// (LLVM would embed absolute paths), which threads would race on. Workers
// take items from a pipe as they free up and report "index ok seconds" lines.
void compile_in_workers(
    const std::vector<size_t>& todo, int jobs, const std::string& work_dir,
    const std::function<std::string(size_t)>& compile_one,
    const std::function<void(size_t, bool, double, const std::string&)>& finished) {
  int tasks[2], results[2];
  CNNC_INTERNAL_ASSERT(pipe(tasks) == 0 && pipe(results) == 0) << "pipe: " << std::strerror(errno);
  CNNC_INTERNAL_ASSERT(todo.size() * sizeof(int32_t) <= 65536)
      << "too many kernels for the task pipe";
  for (size_t i : todo) {
    const int32_t v = static_cast<int32_t>(i);
    CNNC_INTERNAL_ASSERT(write(tasks[1], &v, sizeof v) == sizeof v) << "task pipe";
  }
  close(tasks[1]);
  std::fflush(nullptr);  // nothing buffered may be written twice
  std::vector<pid_t> workers;
  const pid_t parent = getpid();
  for (int j = 0; j < jobs; ++j) {
    const pid_t pid = fork();
    CNNC_INTERNAL_ASSERT(pid >= 0) << "fork: " << std::strerror(errno);
    if (pid == 0) {
      // A compile killed outright (kill -9) takes its workers along; an
      // interrupt ends them at once, and the parent cleans up.
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      signal(SIGINT, SIG_DFL);
      signal(SIGTERM, SIG_DFL);
      signal(SIGHUP, SIG_DFL);
      close(results[0]);
      // LLVM's fatal errors (a full disk: "IO failure on output stream") go
      // to the worker's log, which the parent quotes if the worker dies.
      const int log = open((work_dir + "/worker-" + std::to_string(j) + ".log").c_str(),
                           O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
      if (log >= 0) dup2(log, 2);
      int32_t i;
      while (read(tasks[0], &i, sizeof i) == sizeof i) {
        const auto t0 = std::chrono::steady_clock::now();
        const std::string error = compile_one(static_cast<size_t>(i));
        const double secs =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
        if (!error.empty())
          std::ofstream(work_dir + "/kernel-" + std::to_string(i) + ".error") << error;
        char line[64];
        const int len =
            std::snprintf(line, sizeof line, "%d %d %.3f\n", i, error.empty() ? 1 : 0, secs);
        if (write(results[1], line, static_cast<size_t>(len)) != len) _exit(3);
      }
      _exit(0);
    }
    workers.push_back(pid);
  }
  close(tasks[0]);
  close(results[1]);
  std::vector<bool> reported(todo.empty() ? 0 : *std::max_element(todo.begin(), todo.end()) + 1);
  if (FILE* in = fdopen(results[0], "r")) {
    int i, ok;
    double secs;
    while (std::fscanf(in, "%d %d %lf", &i, &ok, &secs) == 3) {
      std::string error;
      if (!ok) {
        std::ifstream e(work_dir + "/kernel-" + std::to_string(i) + ".error");
        std::stringstream text;
        text << e.rdbuf();
        error = text.str().empty() ? "failed" : text.str();
      }
      reported[static_cast<size_t>(i)] = true;
      finished(static_cast<size_t>(i), false, secs, error);
    }
    std::fclose(in);
  }
  if (interrupted())
    for (pid_t pid : workers) kill(pid, SIGTERM);
  std::string died;
  for (size_t j = 0; j < workers.size(); ++j) {
    int status = 0;
    while (waitpid(workers[j], &status, 0) < 0 && errno == EINTR) {
    }
    if (WIFSIGNALED(status) || (WIFEXITED(status) && WEXITSTATUS(status) != 0)) {
      std::ifstream log(work_dir + "/worker-" + std::to_string(j) + ".log");
      std::string line, last;
      while (std::getline(log, line))
        if (!line.empty()) last = line;
      died = "a kernel compiler process " +
             (WIFSIGNALED(status) ? "died of signal " + std::to_string(WTERMSIG(status))
                                  : "exited with status " + std::to_string(WEXITSTATUS(status))) +
             (last.empty() ? "" : ": " + last);
    }
  }
  for (size_t i : todo)
    if (!reported[i])
      finished(i, false, 0, died.empty() ? "its compiler process ended without a result" : died);
}

}  // namespace

std::string TargetSet::str() const {
  std::string s;
  for (const std::string& t : targets) s += (s.empty() ? "" : ",") + t;
  return s;
}

std::string host_target() {
  Halide::Target host = Halide::get_host_target().without_feature(Halide::Target::JIT);
  // CPUID leaf 7, sub-leaf 1, EAX bit 4: AVX-VNNI (clang 14's
  // __builtin_cpu_supports does not know the name).
  unsigned a = 0, b = 0, c = 0, d = 0;
  const bool avx_vnni = __get_cpuid_count(7, 1, &a, &b, &c, &d) && (a & (1u << 4));
  if (host.has_feature(Halide::Target::AVX512_SapphireRapids) && !avx_vnni)
    host = host.without_feature(Halide::Target::AVX512_SapphireRapids)
               .with_feature(Halide::Target::AVX512_Cannonlake);
  return host.to_string();
}

std::optional<TargetSet> TargetSet::parse(const std::string& spec, std::string& error) {
  TargetSet set;
  std::vector<std::string> names;
  if (spec == "default") {
    names.assign(std::begin(kDefaultTargets), std::end(kDefaultTargets));
  } else if (spec == "host") {
    names.push_back(host_target());
  } else {
    std::stringstream in(spec);
    for (std::string t; std::getline(in, t, ',');) names.push_back(t);
  }
  for (const std::string& name : names) {
    if (!Halide::Target::validate_target_string(name)) {
      error =
          "'" + name +
          "' is not a Halide target (try host, default or x86-64-linux-avx2-fma-f16c-sse41-avx)";
      return std::nullopt;
    }
    Halide::Target t(name);
    if (t.arch != Halide::Target::X86 || t.bits != 64 || t.os != Halide::Target::Linux) {
      error = "target '" + name + "': only x86-64 Linux CPU targets are supported by this backend";
      return std::nullopt;
    }
    if (t.has_gpu_feature()) {
      error = "target '" + name + "': GPU targets are not supported by this backend yet";
      return std::nullopt;
    }
    // The runtime is linked once per library, and kernels take the model
    // instance as Halide's user context (its error handler writes the
    // instance's error text).
    t = t.with_feature(Halide::Target::NoRuntime).with_feature(Halide::Target::UserContext);
    set.targets.push_back(t.to_string());
  }
  if (set.targets.empty()) {
    error = "no target given";
    return std::nullopt;
  }
  if (set.targets.size() > 1) {
    // Multi-target dispatch needs a fallback without extra features last.
    Halide::Target last(set.targets.back());
    if (last.has_feature(Halide::Target::AVX2) || last.has_feature(Halide::Target::AVX512)) {
      error =
          "the last of several targets is the fallback for every CPU: make it a baseline one (e.g. "
          "x86-64-linux-sse41)";
      return std::nullopt;
    }
  }
  return set;
}

Isa isa_of(const std::string& target) {
  Halide::Target t(target);
  if (t.has_feature(Halide::Target::AVX512)) return Isa::Avx512;
  if (t.has_feature(Halide::Target::AVX2)) return Isa::Avx2;
  return Isa::Sse41;
}

std::string halide_version() { return "Halide " CNNC_HALIDE_VERSION; }

std::string default_cache_dir() {
  if (const char* d = std::getenv("CNNC_CACHE_DIR"); d && *d) return d;
  if (const char* d = std::getenv("XDG_CACHE_HOME"); d && *d) return std::string(d) + "/cnnc";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/cnnc";
  return "";
}

std::vector<std::string> kernel_symbols(const LoweredModel& m, const TargetSet& targets,
                                        const ScheduleFn& schedule) {
  std::vector<std::string> out;
  for (const KernelSpec& spec : m.specs)
    out.push_back(kernel_symbol(spec, variant_key(spec, targets, schedule)));
  return out;
}

BuiltKernels build_kernels(const LoweredModel& m, const TargetSet& targets,
                           const KernelBuildOptions& options, const std::string& work_dir,
                           DiagnosticEngine& diag) {
  const auto start = std::chrono::steady_clock::now();
  BuiltKernels out;
  out.symbols = kernel_symbols(m, targets, options.schedule);
  std::string dir = work_dir;
  if (!options.cache_dir.empty()) {
    dir = options.cache_dir + "/kernels";
    if (!make_directories(dir)) {
      diag.error({},
                 "cannot create the kernel cache directory " + dir + ": " + std::strerror(errno) +
                     " (set CNNC_CACHE_DIR or --cache-dir, or pass --no-cache)",
                 {}, ExitCode::IoError);
      return out;
    }
  }
  if (!options.cache_dir.empty()) remove_stale_temporaries(dir);
  const size_t n = m.specs.size();
  for (size_t i = 0; i < n; ++i) out.archives.push_back(dir + "/" + out.symbols[i] + ".a");
  const std::string runtime_base = "x86-64-linux-sse41";
  out.runtime_object =
      dir + "/runtime-" + stable_hash(halide_version() + "|" + runtime_base) + ".o";

  std::vector<Halide::Target> halide_targets;
  std::vector<std::string> suffixes;
  for (const std::string& t : targets.targets) {
    halide_targets.emplace_back(t);
    suffixes.push_back(isa_name(isa_of(t)) + std::string("_") + stable_hash(t).substr(0, 6));
  }

  auto what = [&](size_t i) {
    return i == n ? std::string("the Halide runtime")
                  : "layer '" + first_layer(m, i) + "' (kernel " + out.symbols[i] + ", " +
                        m.specs[i].key() + ")";
  };
  // Compiles item i (the runtime when i == n) into the cache; "" or the error.
  auto compile_one = [&](size_t i) -> std::string {
    const bool is_runtime = i == n;
    const std::string& path = is_runtime ? out.runtime_object : out.archives[i];
    const std::string tmp = path + unique_suffix() + (is_runtime ? ".o" : ".a");
    try {
      // Fault injection for the tests of a failing code generation:
      // CNNC_FAULT=halide_compile:LAYER.
      // CNNC_FAULT=tuned_compile:LAYER fails it only with a tuned schedule.
      if (const char* f = std::getenv("CNNC_FAULT"); f && !is_runtime) {
        const KernelSpec& spec = m.specs[i];
        bool tuned = false;
        for (const std::string& t : targets.targets)
          tuned |= !(options.schedule(spec, isa_of(t)) == default_schedule(spec, isa_of(t)));
        if (std::string(f) == "halide_compile:" + first_layer(m, i) ||
            (tuned && std::string(f) == "tuned_compile:" + first_layer(m, i)))
          throw std::runtime_error("fault injected by CNNC_FAULT");
      }
      if (is_runtime) {
        Halide::compile_standalone_runtime(tmp, Halide::Target(runtime_base));
      } else {
        const KernelSpec& spec = m.specs[i];
        auto factory = [&](const std::string& fn, const Halide::Target& t) {
          return module_for(spec, options.schedule(spec, isa_of(t.to_string())), t, fn);
        };
        Halide::compile_multitarget(out.symbols[i], {{Halide::OutputFileType::static_library, tmp}},
                                    halide_targets, suffixes, factory);
      }
      publish(tmp, path);
      return "";
    } catch (const std::exception& e) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      return e.what();
    }
  };

  int done = 0;
  std::vector<std::string> failures;
  std::vector<size_t> retry;  // kernels whose tuned schedule failed: rebuilt with the default
  auto finished = [&](size_t i, bool cached, double secs, const std::string& error) {
    if (!error.empty()) {
      if (i < n && options.drop_tuned && options.drop_tuned(m.specs[i])) {
        std::string first = error.substr(0, error.find('\n'));
        diag.warning({}, "tuned schedule for '" + first_layer(m, i) +
                             "' failed (COMPILE_ERROR: " + first + "); using the default");
        retry.push_back(i);
        return;
      }
      failures.push_back(what(i) + ": " + error);
      return;
    }
    (cached ? out.cached : out.compiled) += 1;
    if (options.progress)
      options.progress(++done, static_cast<int>(n + 1),
                       i == n ? std::string("Halide runtime") : first_layer(m, i), cached, secs);
  };
  std::vector<size_t> todo;
  for (size_t i = 0; i <= n; ++i) {
    if (sealed(i == n ? out.runtime_object : out.archives[i]))
      finished(i, true, 0, "");
    else
      todo.push_back(i);
  }
  auto compile_all = [&](const std::vector<size_t>& items) {
    int jobs = options.jobs > 0
                   ? options.jobs
                   : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    jobs = static_cast<int>(std::min<size_t>(static_cast<size_t>(jobs), items.size()));
    if (jobs <= 1) {
      for (size_t i : items) {
        if (interrupted()) break;
        const auto t0 = std::chrono::steady_clock::now();
        std::string error = compile_one(i);
        finished(i, false,
                 std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(),
                 error);
      }
    } else {
      compile_in_workers(items, jobs, work_dir, compile_one, finished);
    }
  };
  compile_all(todo);
  if (!retry.empty() && !interrupted()) {
    // The default schedule's kernel has another symbol (and cache entry).
    todo.clear();
    for (size_t i : retry) {
      out.symbols[i] =
          kernel_symbol(m.specs[i], variant_key(m.specs[i], targets, options.schedule));
      out.archives[i] = dir + "/" + out.symbols[i] + ".a";
      if (sealed(out.archives[i]))
        finished(i, true, 0, "");
      else
        todo.push_back(i);
    }
    retry.clear();
    compile_all(todo);
  }
  if (interrupted()) {
    diag.error({}, "interrupted while compiling kernels", {}, ExitCode::Interrupted);
    return out;
  }
  // A template Halide cannot compile is cnnc's bug, not the user's: exit 70;
  // but a kernel that could not be written for want of space is an I/O error.
  if (!failures.empty() && (disk_full(dir) || disk_full(work_dir)))
    diag.error({},
               "cannot write compiled kernels: no space left on device (" +
                   (disk_full(dir) ? "the kernel cache " + dir : "the work directory " + work_dir) +
                   " is full)",
               {}, ExitCode::IoError);
  else
    for (const std::string& f : failures)
      diag.error({}, "code generation failed for " + f + " (internal error: please report)", {},
                 ExitCode::Internal);
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return out;
}

std::string kernel_text(const LoweredModel& m, const TargetSet& targets, const ScheduleFn& schedule,
                        KernelText what, const std::string& work_dir) {
  std::vector<std::string> symbols = kernel_symbols(m, targets, schedule);
  const Halide::Target target(targets.targets.front());
  std::ostringstream text;
  for (size_t i = 0; i < m.specs.size(); ++i) {
    std::string layers;
    for (const KernelCall& c : m.calls)
      if (static_cast<size_t>(c.spec) == i) layers += (layers.empty() ? "" : ", ") + c.layer;
    const std::string file =
        work_dir + "/" + symbols[i] + (what == KernelText::Stmt ? ".stmt" : ".s");
    try {
      Halide::Module mod = module_for(m.specs[i], schedule(m.specs[i], isa_of(target.to_string())),
                                      target, symbols[i]);
      mod.compile({{what == KernelText::Stmt ? Halide::OutputFileType::stmt
                                             : Halide::OutputFileType::assembly,
                    file}});
    } catch (const Halide::Error& e) {
      CNNC_INTERNAL_ERROR() << "Halide rejected kernel " << symbols[i] << " (layers " << layers
                            << "): " << e.what();
    }
    std::ifstream in(file);
    std::stringstream body;
    body << in.rdbuf();
    const char* c = what == KernelText::Stmt ? "//" : "#";
    text << c << " kernel " << symbols[i] << ": " << m.specs[i].key() << "\n"
         << c << " layers: " << layers << "\n"
         << c << " target: " << target.to_string() << ", schedule "
         << schedule(m.specs[i], isa_of(target.to_string())).key() << "\n"
         << body.str() << "\n";
  }
  return text.str();
}

}  // namespace cnnc::halide
