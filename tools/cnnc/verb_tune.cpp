// cnnc tune: measure every kernel of a network on this machine, search its
// schedule parameters, check the tuned network against the reference backend
// and record the winners in a tuning database for `cnnc compile --tuning-db`.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <ctime>
#include <filesystem>
#include <map>

#include "backends/halide/tuner.h"
#include "backends/llvm/build_library.h"
#include "backends/reference/interpreter.h"
#include "support/interrupt.h"
#include "support/random.h"
#include "tools/cnnc/compile_options.h"
#include "tools/cnnc/peak_flops.h"
#include "tools/cnnc/run_compiled.h"
#include "tools/cnnc/run_io.h"
#include "tools/cnnc/tuning_table.h"
#include "tools/cnnc/verbs.h"

namespace cnnc::tool {

namespace {

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string minutes(double s) {
  const int v = static_cast<int>(std::max(0.0, s));
  char buf[32];
  std::snprintf(buf, sizeof buf, "%d:%02d", v / 60, v % 60);
  return buf;
}

void show_progress(const halide::TuneProgress& p, bool tty) {
  char line[256];
  if (p.defaults)
    std::snprintf(line, sizeof line, "cnnc: tune: default schedule %d/%d %s", p.kernel, p.kernels,
                  p.layer.c_str());
  else
    std::snprintf(line, sizeof line,
                  "cnnc: tune: kernel %d/%d %s: candidate %d/%d, best %.2fx, %s of %s left",
                  p.kernel, p.kernels, p.layer.c_str(), p.trial, p.trials, p.best_speedup,
                  minutes(p.budget_s - p.elapsed_s).c_str(), minutes(p.budget_s).c_str());
  if (tty) {
    std::fprintf(stderr, "\r\033[K%s", line);
  } else if (p.kernel_done || (p.defaults && p.kernel == p.kernels)) {
    // A log gets a line per kernel searched and one for all the defaults.
    std::fprintf(stderr, "%s%s\n", line,
                 p.defaults ? " (every kernel's default measured)" : " (done)");
  }
  std::fflush(stderr);
}

// Seeded inputs of the graph's shapes, uniform in [-1, 1).
std::vector<ir::Tensor> probe_inputs(const ir::Graph& g, uint64_t seed) {
  std::vector<ir::Tensor> in;
  for (const ir::Value* v : g.inputs()) {
    ir::Tensor t(v->type.shape);
    RandomStream rng(seed, v->name);
    for (float& x : t.data) x = static_cast<float>(2 * rng.uniform() - 1);
    in.push_back(std::move(t));
  }
  return in;
}

}  // namespace

int verb_tune(const std::vector<std::string>& args) {
  NetworkOptions net_opts;
  PipelineOptions pipe("default");
  WeightsOptions w;
  std::string net, output, target = "default", cache_dir;
  double budget = 600, measure = 0.1, compile_timeout = 120, run_timeout = 30;
  int64_t trials = 48, seed = 1, threads = 0;
  bool resume = false, quiet = false;
  ArgParser p(
      "cnnc tune NET [--budget SECONDS] [-o NAME.tuning.jsonl] [--resume] [options]",
      "Tunes the schedules of the network's kernels for this machine: every distinct kernel is\n"
      "measured with its default schedule, then a seeded local search over its tile sizes, vector\n"
      "width, parallel split, reduction chunks and (on narrow maps) pixels fused across images\n"
      "gets a share of the time budget proportional to the kernel's share of the run time. Each\n"
      "candidate is compiled and run in its own worker process (a crash, hang or compiler failure\n"
      "is recorded and tuning goes on); a candidate whose output differs from the default\n"
      "schedule's is never chosen. The tuned network is then compiled and checked against the\n"
      "reference backend before the winners are recorded. Every measurement is appended to the\n"
      "database as it is made (one JSON line each), so a killed run continues with --resume\n"
      "without measuring anything twice.");
  p.positional("NET", kNetHelp, &net);
  p.option("-o", "FILE", "the tuning database to append to (default: NAME.tuning.jsonl; created)",
           [&](const std::string& v) {
             output = v;
             return v.empty() ? std::string("-o needs a file") : std::string();
           });
  p.option("--target", "T",
           "the Halide target to tune: default (the variant of cnnc compile's default build that\n"
           "this CPU runs), host (exactly this CPU's features; compile with --target host too) or "
           "one\nHalide target this CPU runs. A record applies only to a variant with exactly this "
           "target",
           [&](const std::string& v) {
             target = v;
             return std::string();
           });
  auto seconds = [](double* out, double lo, const char* flag) {
    return [out, lo, flag](const std::string& v) {
      char* end = nullptr;
      const double x = std::strtod(v.c_str(), &end);
      if (v.empty() || *end || !(x >= lo) || x > 1e7)
        return std::string(flag) + " needs a number of seconds ≥ " +
               std::to_string(lo).substr(0, 4);
      *out = x;
      return std::string();
    };
  };
  p.option("--budget", "SECONDS",
           "wall-clock time for the search (default 600); the defaults are always measured",
           seconds(&budget, 0, "--budget"));
  p.int_option("--trials", "N", "most candidates per kernel besides its default (default 48)",
               &trials, 0, 100000);
  p.int_option("--seed", "S",
               "seed of the search (default 1): same seed, budget and machine, same candidates",
               &seed, 0, INT64_MAX);
  p.int_option("--threads", "N", "threads each measured kernel runs on (default: all cores)",
               &threads, 0, 1024);
  p.flag("--resume",
         "reuse the measurements already in the database (a killed or earlier run): they are "
         "not\nmeasured again",
         &resume);
  p.option("--measure-time", "SECONDS",
           "warm-up, then timed runs, each about this long per candidate (default 0.1)",
           seconds(&measure, 0.001, "--measure-time"));
  p.option("--compile-timeout", "SECONDS",
           "a candidate not compiled in this time is killed (default 120)",
           seconds(&compile_timeout, 0.1, "--compile-timeout"));
  p.option("--run-timeout", "SECONDS",
           "a candidate whose runs take longer is killed and recorded as a hang (default 30)",
           seconds(&run_timeout, 0.1, "--run-timeout"));
  p.option("--cache-dir", "DIR", "kernel cache of the final check's compile (as cnnc compile)",
           [&](const std::string& v) {
             cache_dir = v;
             return std::string();
           });
  p.flag("--quiet", "no progress on stderr", &quiet);
  w.add_to(p, /*allow_file=*/true);
  pipe.add_to(p);
  p.epilog(
      "The closing table gives each kernel's default and tuned time, speed-up, GFLOP/s and %\n"
      "of the FMA peak (measured then); two lines follow: how many convolution kernels run\n"
      "within 10% of the peak at their default schedule, and the most any schedule could\n"
      "gain (every convolution and linear kernel at the peak).\n\n"
      "The database records the full target (CPU features included), the Halide version and\n"
      "the kernel templates' revision; cnnc compile --tuning-db uses a record only where all\n"
      "match. Faults for tests: CNNC_TUNE_FAULT=crash@N,hang@N,wrong@N,compile_error@N makes\n"
      "the N-th measured candidate fail so.\n\n"
      "example:\n"
      "  cnnc tune examples/resnet50.json --budget 900 -o resnet50.tuning.jsonl\n"
      "  cnnc compile examples/resnet50.json --tuning-db resnet50.tuning.jsonl\n");
  return network_verb(p, args, net_opts, net, [&](ir::Graph& graph, DiagnosticEngine& diag) {
    std::string error;
    auto set = halide::TargetSet::parse(target, error);
    if (!set) diag.fatal({}, "--target: " + error, {}, ExitCode::Usage);
    if (target == "default") {
      // The variant this CPU dispatches to: the first it can run.
      for (const std::string& t : set->targets)
        if (halide::cannot_run_here(halide::tuning_target(t)).empty()) {
          set->targets = {t};
          break;
        }
    }
    if (set->targets.size() != 1)
      diag.fatal({}, "--target: cnnc tune measures one target at a time (e.g. host)", {},
                 ExitCode::Usage);
    const std::string tuned_target = halide::tuning_target(set->targets[0]);
    if (std::string why = halide::cannot_run_here(tuned_target); !why.empty())
      diag.fatal({},
                 "--target " + target + ": cannot measure here: " + why +
                     " (tune on the machine you run on, or use --target host)",
                 {}, ExitCode::Usage);
    if (output.empty()) output = graph.name + ".tuning.jsonl";
    if (!emit_guard(output, net, diag)) return;
    std::vector<halide::TuningRecord> previous;
    std::error_code ec;
    const bool exists = std::filesystem::exists(output, ec);
    if (resume && exists) {
      auto records = halide::read_tuning_db(output, false, diag);
      if (!records) return;
      previous = std::move(*records);
    } else if (exists && !quiet) {
      diag.note({}, "appending to " + output +
                        " (its measurements are measured again; --resume reuses them)");
    }
    InterruptScope interrupts;
    provide_weights(graph, w, diag);
    pipe.run(graph, net_opts.frontend.shapes, diag);
    ensure_planned(graph, pipe.no_verify, net_opts.frontend.shapes, diag);
    halide::LoweredModel m = lower_graph(graph, diag);
    CompileOptions co;
    co.target = set->targets[0];
    co.cache_dir = cache_dir;
    co.quiet = true;
    std::unique_ptr<TempDir> work = make_work_dir(co, diag);

    halide::TuneOptions o;
    o.target = tuned_target;
    o.budget_s = budget;
    o.max_trials = static_cast<int>(trials);
    o.seed = static_cast<uint64_t>(seed);
    o.threads = static_cast<int>(threads);
    o.measure_s = measure;
    o.compile_timeout_s = compile_timeout;
    o.run_timeout_s = run_timeout;
    o.work_dir = work->path();
    o.previous = std::move(previous);
    o.record = [&](const halide::TuningRecord& r) {
      std::string why;
      if (!halide::append_tuning_record(output, r, why)) diag.fatal({}, why, {}, ExitCode::IoError);
    };
    const bool tty = isatty(2);
    if (!quiet) o.progress = [tty](const halide::TuneProgress& pr) { show_progress(pr, tty); };
    const auto t0 = std::chrono::steady_clock::now();
    halide::TuneResult result = halide::tune(m, o, utc_now());
    if (!quiet && tty) std::fprintf(stderr, "\n");
    if (interrupted()) {
      diag.error(
          {}, "interrupted: the measurements so far are in " + output + " (continue with --resume)",
          {}, ExitCode::Interrupted);
      return;
    }
    const double tune_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();

    // The check: the whole network with the chosen schedules, compiled as
    // cnnc compile would, against the reference backend on a seeded input.
    int changed = 0;
    for (const halide::KernelResult& k : result.kernels)
      if (k.best.status == "ok" && !(k.best.schedule == k.def.schedule)) ++changed;
    if (!quiet)
      std::fprintf(stderr,
                   "cnnc: tune: checking the tuned network against the reference backend\n");
    llvmgen::LibraryRequest req;
    req.targets = *set;
    req.kernels = co.kernel_options();
    req.kernels.schedule = halide::chosen_schedules(m, result, tuned_target);
    req.output = work->file("libtuned.so");
    llvmgen::build_library(m, req, work->path(), diag);
    std::unique_ptr<CompiledModel> lib = load_compiled(req.output, nullptr, diag);
    const std::vector<ir::Tensor> inputs = probe_inputs(graph, static_cast<uint64_t>(seed));
    CompiledRunOptions run_opts;
    std::vector<ir::Tensor> got = run_compiled(*lib, inputs, run_opts, diag);
    reference::RunOptions ro;
    ro.simulate_arena = graph.arena_bytes.has_value();
    std::vector<ir::Tensor> want = reference::run(graph, inputs, ro).outputs;
    std::vector<std::string> names;
    for (const ir::Value* v : graph.outputs()) names.push_back(v->name);
    const Tolerance tol{1e-4, 2e-5};
    const NumericDiff d = compare(got, want, names, tol);
    if (!d.ok())
      diag.fatal({},
                 "the tuned network's outputs differ from the reference backend's (" + d.str() +
                     ", tolerance " + tol.str() +
                     "): nothing recorded as best (internal error: please report)",
                 {}, ExitCode::Internal);
    const std::string date = utc_now();
    for (const halide::KernelResult& k : result.kernels) {
      if (k.def.status != "ok") continue;
      halide::TuningRecord best = k.best;
      best.kind = "best";
      best.round = 0;
      best.default_ms = k.def.median_ms;
      best.date = date;
      o.record(best);
    }

    std::vector<TuningRow> rows;
    int failed = 0, total_trials = 0;
    for (size_t i : halide::by_default_time(result.kernels, /*only_measured=*/false)) {
      const halide::KernelResult& k = result.kernels[i];
      failed += static_cast<int>(k.failures.size());
      total_trials += k.trials;
      TuningRow r;
      r.layers = k.layers;
      r.family = k.def.family;
      r.calls = k.calls;
      r.flops = k.flops;
      r.default_ms = k.def.median_ms;
      r.tuned_ms = k.best.status == "ok" ? k.best.median_ms : 0;
      r.schedule = k.def.status != "ok" ? "default " + k.def.status + ": " + k.def.message
                   : k.best.schedule == k.def.schedule ? "default (" + k.def.schedule.key() + ")"
                                                       : k.best.schedule.key();
      rows.push_back(r);
    }
    const Peak peak = measure_fp32_peak(run_opts.thread_count());
    std::printf(
        "tuned %zu kernels for %s in %.0f s: %d candidates (%d failed), %d measured, %d "
        "reused; %d kernels faster than their default\n",
        result.kernels.size(), tuned_target.c_str(), tune_s, total_trials, failed, result.measured,
        result.reused, changed);
    std::fputs(tuning_table(rows, peak.gflops).c_str(), stdout);
    std::printf(
        "peak %.1f GFLOP/s (%s, %d threads, measured); tuned network matches the reference "
        "backend (%s, tolerance %s)\n",
        peak.gflops, peak.isa, run_opts.thread_count(), d.str().c_str(), tol.str().c_str());
    std::fputs(tuning_headroom(rows, peak.gflops).c_str(), stdout);
    for (const halide::KernelResult& k : result.kernels)
      for (const halide::TuningRecord& f : k.failures)
        std::printf("failed candidate: %s %s: %s (%s)\n", k.layers.c_str(),
                    f.schedule.key().c_str(), f.status.c_str(), f.message.c_str());
    if (result.budget_exhausted)
      std::printf("the budget ran out before every planned candidate was measured\n");
    std::printf("wrote %s; use it with: cnnc compile %s --tuning-db %s\n", output.c_str(),
                net.c_str(), output.c_str());
  });
}

}  // namespace cnnc::tool
