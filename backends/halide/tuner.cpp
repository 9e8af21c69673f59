#include "backends/halide/tuner.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include "Halide.h"
#include "backends/halide/kernel_bench.h"
#include "backends/halide/kernel_compiler.h"
#include "backends/halide/schedule_space.h"
#include "support/internal_error.h"
#include "support/interrupt.h"
#include "support/random.h"

namespace cnnc::halide {

namespace {

using Clock = std::chrono::steady_clock;

double since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// Faults injected into candidates for the tests (CNNC_TUNE_FAULT="crash@2,
// hang@3,wrong@4,compile_error@5": the n-th candidate measured, 1-based,
// defaults not counted).
std::string injected_fault(int candidate) {
  const char* env = std::getenv("CNNC_TUNE_FAULT");
  if (!env) return "";
  std::stringstream in(env);
  for (std::string item; std::getline(in, item, ',');) {
    const size_t at = item.find('@');
    if (at != std::string::npos && std::atoi(item.c_str() + at + 1) == candidate)
      return item.substr(0, at);
  }
  return "";
}

struct Job {
  const KernelSpec* spec;
  Schedule schedule;
  std::string expected;  ///< file of the default schedule's output
  bool write_expected = false;
  std::string fault;
};

// The worker: compile, run, compare; one result line on `fd`. Never returns.
[[noreturn]] void worker(const Job& job, const TuneOptions& o, int fd) {
  auto say = [fd](const std::string& line) {
    const std::string text = line + "\n";
    if (write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) _exit(3);
  };
  try {
    const auto t0 = Clock::now();
    if (job.fault == "compile_error") throw std::runtime_error("fault injected by CNNC_TUNE_FAULT");
    JitKernel k(*job.spec, job.schedule, o.target, o.seed);
    char line[128];
    std::snprintf(line, sizeof line, "compiled %.4f", since(t0));
    say(line);
    if (job.fault == "crash") raise(SIGSEGV);
    if (job.fault == "hang")
      for (;;) pause();
    const TimingSummary t = summarize(k.time(o.measure_s, 5, 1000));
    std::vector<float> out = k.output();
    if (job.fault == "wrong") out[out.size() / 2] += 1.0f;
    double max_diff = 0, tol = 0;
    if (job.write_expected) {
      std::ofstream(job.expected, std::ios::binary)
          .write(reinterpret_cast<const char*>(out.data()),
                 static_cast<std::streamsize>(out.size() * sizeof(float)));
    } else {
      std::vector<float> want(out.size());
      std::ifstream in(job.expected, std::ios::binary);
      in.read(reinterpret_cast<char*>(want.data()),
              static_cast<std::streamsize>(want.size() * sizeof(float)));
      if (!in) throw std::runtime_error("the default schedule's output is missing");
      double scale = 1;
      for (float v : want) scale = std::max(scale, static_cast<double>(std::fabs(v)));
      // Candidates may sum in another order (chunks): rounding differences
      // stay far below 1e-4 of the output's magnitude; a wrong index is O(1).
      tol = 1e-4 * scale;
      for (size_t i = 0; i < out.size(); ++i) {
        const double d = std::fabs(static_cast<double>(out[i]) - want[i]);
        max_diff = std::max(max_diff, std::isnan(d) ? HUGE_VAL : d);
      }
    }
    std::snprintf(line, sizeof line, "%s %.6g %.6g %.6g %d %.6g", max_diff > tol ? "wrong" : "ok",
                  t.median, t.lo, t.hi, t.runs, max_diff);
    say(line);
  } catch (const std::exception& e) {
    std::string msg = e.what();
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    say("error " + msg.substr(0, 400));
  }
  _exit(0);
}

// Reads one line from `fd` within `seconds`: "" on timeout or end of file
// (`eof` tells which).
std::string read_line(int fd, double seconds, std::string& pending, bool& eof) {
  const auto t0 = Clock::now();
  for (;;) {
    const size_t nl = pending.find('\n');
    if (nl != std::string::npos) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      return line;
    }
    const double left = seconds - since(t0);
    if (left <= 0) return "";
    pollfd p{fd, POLLIN, 0};
    const int r = poll(&p, 1, static_cast<int>(std::min(left, 0.5) * 1000) + 1);
    if (r < 0 && errno != EINTR) return "";
    if (interrupted()) return "";
    if (r > 0) {
      char buf[512];
      const ssize_t got = read(fd, buf, sizeof buf);
      if (got <= 0) {
        eof = true;
        return "";
      }
      pending.append(buf, static_cast<size_t>(got));
    }
  }
}

std::string seconds_text(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

std::string last_line_of(const std::string& path) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  return last.substr(0, 300);
}

// Runs `job` in a worker process and fills r's status and figures.
void run_job(const Job& job, const TuneOptions& o, TuningRecord& r) {
  int fds[2];
  CNNC_INTERNAL_ASSERT(pipe(fds) == 0) << "pipe: " << std::strerror(errno);
  const std::string log = o.work_dir + "/worker.log";
  std::fflush(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  CNNC_INTERNAL_ASSERT(pid >= 0) << "fork: " << std::strerror(errno);
  if (pid == 0) {
    // A tuner killed outright (kill -9) takes its worker along: a hung
    // candidate must not spin on after it.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(1);
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    close(fds[0]);
    // Halide and LLVM write their complaints to stderr: into the log instead.
    const int err = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (err >= 0) dup2(err, 2);
    if (o.threads > 0) setenv("HL_NUM_THREADS", std::to_string(o.threads).c_str(), 1);
    use_runtime_pool(o.threads);
    worker(job, o, fds[1]);
  }
  close(fds[1]);
  std::string pending, line;
  bool eof = false;
  line = read_line(fds[0], o.compile_timeout_s, pending, eof);
  bool killed = false;
  if (line.rfind("compiled ", 0) == 0) {
    r.compile_s = std::atof(line.c_str() + 9);
    line = read_line(fds[0], o.run_timeout_s, pending, eof);
    if (line.empty() && !eof) {
      r.status = "hang";
      r.message = "no result within the run timeout (" + seconds_text(o.run_timeout_s) + ")";
      killed = true;
    }
  } else if (line.empty() && !eof) {
    r.status = "compile_timeout";
    r.message =
        "not compiled within the compile timeout (" + seconds_text(o.compile_timeout_s) + ")";
    killed = true;
  }
  if (killed) kill(pid, SIGKILL);
  close(fds[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (killed) return;
  if (line.rfind("ok ", 0) == 0 || line.rfind("wrong ", 0) == 0) {
    const bool ok = line[0] == 'o';
    std::sscanf(line.c_str() + (ok ? 3 : 6), "%lf %lf %lf %d %lf", &r.median_ms, &r.lo_ms, &r.hi_ms,
                &r.runs, &r.max_diff);
    r.status = ok ? "ok" : "wrong";
    if (!ok) r.message = "output differs from the default schedule's";
  } else if (line.rfind("error ", 0) == 0) {
    r.status = r.compile_s > 0 ? "run_error" : "compile_error";
    r.message = line.substr(6);
  } else {
    r.status = "crash";
    r.message = WIFSIGNALED(status)
                    ? std::string("worker died of signal ") + std::to_string(WTERMSIG(status)) +
                          " (" + strsignal(WTERMSIG(status)) + ")"
                    : "worker exited with status " + std::to_string(WEXITSTATUS(status));
    const std::string last = last_line_of(log);
    if (!last.empty()) r.message += ": " + last;
  }
}

}  // namespace

std::vector<size_t> by_default_time(const std::vector<KernelResult>& kernels, bool only_measured) {
  std::vector<size_t> order;
  for (size_t i = 0; i < kernels.size(); ++i)
    if (!only_measured || kernels[i].def.status == "ok") order.push_back(i);
  auto weight = [&](size_t i) { return kernels[i].def.median_ms * kernels[i].calls; };
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t a, size_t b) { return weight(a) > weight(b); });
  return order;
}

std::string kernel_layers(const LoweredModel& m, size_t spec, int& calls, int64_t& flops) {
  std::string first;
  calls = 0;
  flops = 0;
  for (const KernelCall& c : m.calls) {
    if (static_cast<size_t>(c.spec) != spec) continue;
    if (!calls++) first = c.layer;
    flops += c.flops;
  }
  return calls > 1 ? first + " (+" + std::to_string(calls - 1) + ")" : first;
}

namespace {

std::string template_name(const KernelSpec& s) {
  return std::string(family_name(s.family)) + (s.winograd ? "_winograd"
                                               : s.block  ? "_blocked"
                                                          : "");
}

}  // namespace

TuneResult tune(const LoweredModel& m, const TuneOptions& o, const std::string& date) {
  const auto start = Clock::now();
  const Isa isa = isa_of(o.target);
  const std::string target = tuning_target(o.target);
  const std::string halide = halide_version(), revision = templates_revision();
  TuneResult result;
  const size_t n = m.specs.size();
  result.kernels.resize(n);

  // Earlier measurements by kernel, target and schedule.
  std::map<std::string, TuningRecord> previous;
  for (const TuningRecord& r : o.previous)
    if (r.kind == "trial" && r.target == target && r.halide == halide && r.templates == revision)
      previous[r.signature + "|" + r.schedule.key() + "|" + std::to_string(r.round)] = r;

  int candidates = 0;  // measured (not reused) candidates, for injected faults
  TuneProgress progress;
  progress.kernels = static_cast<int>(n);
  progress.budget_s = o.budget_s;
  auto measure = [&](size_t i, const Schedule& s, int round) {
    const KernelSpec& spec = m.specs[i];
    KernelResult& k = result.kernels[i];
    auto hit = previous.find(spec.key() + "|" + s.key() + "|" + std::to_string(round));
    if (hit != previous.end()) {
      ++result.reused;
      ++progress.reused;
      return hit->second;
    }
    TuningRecord r;
    r.signature = spec.key();
    r.family = template_name(spec);
    r.layers = k.layers;
    r.target = target;
    r.halide = halide;
    r.templates = revision;
    r.schedule = s;
    r.seed = o.seed;
    r.round = round;
    r.date = date;
    const Schedule def = default_schedule(spec, isa);
    Job job{&spec, s, o.work_dir + "/expected-" + std::to_string(i) + ".bin", s == def, ""};
    if (!job.write_expected) {
      if (!std::ifstream(job.expected)) {
        // Resumed: the default was not run in this process; its output is needed.
        TuningRecord d = r;
        run_job(Job{&spec, def, job.expected, true, ""}, o, d);
      }
      job.fault = injected_fault(++candidates);
    }
    const auto t0 = Clock::now();
    run_job(job, o, r);
    r.wall_s = since(t0);
    // An interrupt (Ctrl-C reaches the worker too) says nothing about the
    // candidate: not recorded, so --resume measures it again.
    if (interrupted()) {
      r.status = "interrupted";
      return r;
    }
    ++result.measured;
    ++progress.measured;
    if (o.record) o.record(r);
    return r;
  };
  auto report = [&]() {
    progress.elapsed_s = since(start);
    if (o.progress) o.progress(progress);
  };

  // 1. Every kernel's default: its time decides its share of the budget.
  for (size_t i = 0; i < n && !interrupted(); ++i) {
    KernelResult& k = result.kernels[i];
    k.spec = i;
    k.layers = kernel_layers(m, i, k.calls, k.flops);
    progress.kernel = static_cast<int>(i + 1);
    progress.layer = k.layers;
    progress.trial = progress.trials = 0;
    progress.best_speedup = 1;
    k.def = k.best = measure(i, default_schedule(m.specs[i], isa), 0);
    report();
  }
  // 2. Trials per kernel, planned from the records alone (not the wall
  // clock now), so a resumed run plans the same: a candidate is taken to
  // cost what the defaults' measurements took on average.
  double wall_sum = 0, weight_sum = 0;
  for (const KernelResult& k : result.kernels) {
    wall_sum += k.def.wall_s;
    if (k.def.status == "ok") weight_sum += k.def.median_ms * k.calls;
  }
  const double per_trial = std::max(0.01, n ? wall_sum / static_cast<double>(n) : 1.0);
  double trials_left = std::max(0.0, (o.budget_s - static_cast<double>(n) * per_trial) / per_trial);
  const std::vector<size_t> order = by_default_time(result.kernels, /*only_measured=*/true);
  auto weight = [&](size_t i) { return result.kernels[i].def.median_ms * result.kernels[i].calls; };
  std::vector<int> planned(n, 0);
  for (size_t i : order) {
    const double share = weight_sum > 0 ? weight(i) / weight_sum : 0;
    planned[i] = std::min(o.max_trials, static_cast<int>(std::floor(trials_left * share + 0.5)));
    trials_left -= planned[i];
    weight_sum -= weight(i);
  }

  // 3. Local search from the default, in order of weight.
  int position = 0;
  for (size_t i : order) {
    ++position;
    if (interrupted()) break;
    KernelResult& k = result.kernels[i];
    const KernelSpec& spec = m.specs[i];
    ScheduleSpace space(spec, isa, k.def.schedule);
    RandomStream rng(o.seed, spec.key());
    std::vector<std::string> tried{k.def.schedule.key()};
    auto fresh = [&](const Schedule& s) {
      return std::find(tried.begin(), tried.end(), s.key()) == tried.end();
    };
    std::vector<Schedule> queue;
    auto refill = [&]() {
      queue = space.neighbours(k.best.schedule);
      for (size_t j = queue.size(); j > 1; --j) std::swap(queue[j - 1], queue[rng.next() % j]);
    };
    refill();
    progress.defaults = false;
    progress.kernels = static_cast<int>(order.size());
    progress.kernel = position;
    progress.layer = k.layers;
    progress.trial = 0;
    progress.trials = planned[i];
    progress.best_speedup = 1;
    for (int t = 0; t < planned[i]; ++t) {
      if (interrupted()) break;
      if (since(start) > o.budget_s) {
        result.budget_exhausted = true;
        break;
      }
      // Mostly neighbours of the best so far; every fourth candidate a random
      // one, so the search can leave a local optimum.
      std::optional<Schedule> next;
      if (t % 4 == 3)
        if (Schedule s = space.random(rng); fresh(s)) next = s;
      while (!queue.empty() && !next) {
        if (fresh(queue.back())) next = queue.back();
        queue.pop_back();
      }
      for (int draw = 0; draw < 20 && !next; ++draw)
        if (Schedule s = space.random(rng); fresh(s)) next = s;
      if (!next) break;  // the space is exhausted
      tried.push_back(next->key());
      progress.trial = t + 1;
      TuningRecord r = measure(i, *next, 0);
      ++k.trials;
      if (r.status != "ok") {
        k.failures.push_back(r);
      } else if (r.median_ms < k.best.median_ms * 0.99 && r.hi_ms < k.best.median_ms) {
        // Faster beyond its own noise: the search continues around it.
        k.best = r;
        refill();
      }
      progress.best_speedup = k.def.median_ms / k.best.median_ms;
      report();
    }
    // 4. The winner confirmed: it and the default measured again in the
    // order default, winner, winner, default, so neither a drift of the
    // machine's speed since the default was first measured nor a burst of
    // another process's work (on a shared machine one kernel's time doubled
    // for seconds) can make a winner. Each is taken at the faster of its two
    // measurements (a disturbance only slows), and the winner must be faster
    // over both pairs together too.
    if (!(k.best.schedule == k.def.schedule) && !interrupted()) {
      const TuningRecord d1 = measure(i, k.def.schedule, 1);
      const TuningRecord b1 = measure(i, k.best.schedule, 2);
      const TuningRecord b2 = measure(i, k.best.schedule, 3);
      const TuningRecord d2 = measure(i, k.def.schedule, 4);
      auto ok = [](const TuningRecord& r) { return r.status == "ok"; };
      auto faster = [](const TuningRecord& a, const TuningRecord& b) {
        return a.median_ms <= b.median_ms ? a : b;
      };
      if (ok(d1) && ok(d2) && ok(b1) && ok(b2)) {
        const TuningRecord d = faster(d1, d2), b = faster(b1, b2);
        const bool wins = b.median_ms < d.median_ms * 0.99 &&
                          b1.median_ms + b2.median_ms < d1.median_ms + d2.median_ms;
        k.def = d;
        k.best = wins ? b : d;
      } else {
        k.best = k.def;
      }
      progress.best_speedup = k.def.median_ms / k.best.median_ms;
    }
    progress.kernel_done = true;
    report();
    progress.kernel_done = false;
  }
  return result;
}

ScheduleFn chosen_schedules(const LoweredModel& m, const TuneResult& results,
                            const std::string& target) {
  std::map<std::string, Schedule> chosen;
  for (const KernelResult& k : results.kernels)
    chosen[m.specs[k.spec].key()] = k.best.status == "ok" ? k.best.schedule : k.def.schedule;
  const Isa tuned = isa_of(target);
  return [chosen, tuned](const KernelSpec& spec, Isa isa) {
    auto it = chosen.find(spec.key());
    return isa == tuned && it != chosen.end() ? it->second : default_schedule(spec, isa);
  };
}

std::string cannot_run_here(const std::string& target) {
  using T = Halide::Target;
  const T want(target), host(host_target());
  if (want.arch != host.arch || want.bits != host.bits || want.os != host.os)
    return "it is not this machine's architecture or OS (" + host.to_string() + ")";
  std::string missing;
  for (auto [f, name] : {std::pair{T::SSE41, "sse41"},
                         {T::AVX, "avx"},
                         {T::AVX2, "avx2"},
                         {T::FMA, "fma"},
                         {T::F16C, "f16c"},
                         {T::AVX512, "avx512"},
                         {T::AVX512_Skylake, "avx512_skylake"},
                         {T::AVX512_Cannonlake, "avx512_cannonlake"},
                         {T::AVX512_SapphireRapids, "avx512_sapphirerapids"}})
    if (want.has_feature(f) && !host.has_feature(f))
      missing += (missing.empty() ? "" : ", ") + std::string(name);
  return missing.empty() ? "" : "this CPU lacks " + missing;
}

}  // namespace cnnc::halide
