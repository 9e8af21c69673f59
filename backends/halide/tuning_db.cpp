#include "backends/halide/tuning_db.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <nlohmann/json.hpp>

#include "Halide.h"
#include "backends/halide/schedule_space.h"
#include "backends/halide/templates_revision.h"

namespace cnnc::halide {

namespace {

using Json = nlohmann::ordered_json;

// Times to 4 significant digits: readable lines, no false precision.
double round4(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return std::strtod(buf, nullptr);
}

// The record a line holds, or nullopt when it is not one (bad JSON, a field
// missing or of the wrong type).
std::optional<TuningRecord> parse_record(const std::string& line) {
  Json j = Json::parse(line, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return std::nullopt;
  try {
    TuningRecord r;
    r.kind = j.at("kind").get<std::string>();
    if (r.kind != "trial" && r.kind != "best") return std::nullopt;
    r.signature = j.at("signature").get<std::string>();
    r.family = j.value("template", std::string());
    r.layers = j.value("layers", std::string());
    r.target = j.at("target").get<std::string>();
    r.halide = j.at("halide").get<std::string>();
    r.templates = j.at("templates").get<std::string>();
    const Json& s = j.at("schedule");
    if (!s.is_object()) return std::nullopt;
    for (const char* f : kScheduleFields) {
      const bool flag = schedule_field_is_flag(f);
      // Records written before fuse_pixels and share_input existed had neither.
      if ((std::string(f) == "fuse_pixels" || std::string(f) == "share_input") && !s.contains(f))
        continue;
      const Json& v = s.at(f);
      if (flag ? !v.is_boolean() : !v.is_number_integer()) return std::nullopt;
      const int64_t x = v.is_boolean() ? v.get<bool>() : v.get<int64_t>();
      if (x < -(1 << 30) || x > (1 << 30)) return std::nullopt;
      set_schedule_field(r.schedule, f, static_cast<int>(x));
    }
    r.status = j.at("status").get<std::string>();
    r.median_ms = j.at("median_ms").get<double>();
    r.lo_ms = j.value("lo_ms", r.median_ms);
    r.hi_ms = j.value("hi_ms", r.median_ms);
    r.runs = j.value("runs", 0);
    r.compile_s = j.value("compile_s", 0.0);
    r.wall_s = j.value("wall_s", 0.0);
    r.max_diff = j.value("max_diff", 0.0);
    r.default_ms = j.value("default_ms", 0.0);
    r.seed = j.value("seed", uint64_t{0});
    r.round = j.value("round", 0);
    r.date = j.value("date", std::string());
    r.message = j.value("message", std::string());
    return r;
  } catch (const Json::exception&) {
    return std::nullopt;
  }
}

}  // namespace

std::string TuningRecord::json_line() const {
  Json j;
  j["kind"] = kind;
  j["template"] = family;
  j["layers"] = layers;
  j["signature"] = signature;
  j["target"] = target;
  j["halide"] = halide;
  j["templates"] = templates;
  Json s;
  for (const char* f : kScheduleFields) {
    if (schedule_field_is_flag(f))
      s[f] = schedule_field(schedule, f) != 0;
    else
      s[f] = schedule_field(schedule, f);
  }
  j["schedule"] = s;
  j["status"] = status;
  j["median_ms"] = round4(median_ms);
  j["lo_ms"] = round4(lo_ms);
  j["hi_ms"] = round4(hi_ms);
  j["runs"] = runs;
  j["compile_s"] = round4(compile_s);
  j["wall_s"] = round4(wall_s);
  j["max_diff"] = max_diff;
  if (kind == "best") j["default_ms"] = round4(default_ms);
  j["seed"] = seed;
  if (round) j["round"] = round;
  j["date"] = date;
  if (!message.empty()) j["message"] = message;
  return j.dump(-1, ' ', /*ensure_ascii=*/true, Json::error_handler_t::replace) + "\n";
}

std::string tuning_target(const std::string& target) {
  return Halide::Target(target)
      .without_feature(Halide::Target::NoRuntime)
      .without_feature(Halide::Target::UserContext)
      .without_feature(Halide::Target::JIT)
      .to_string();
}

std::string templates_revision() { return CNNC_TEMPLATES_REVISION; }

std::optional<std::vector<TuningRecord>> read_tuning_db(const std::string& path, bool strict,
                                                        DiagnosticEngine& diag) {
  const SourceLoc file = make_file_loc(path);
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) {
    diag.error({}, "tuning database '" + path + "' not found", {}, ExitCode::IoError);
    return std::nullopt;
  }
  if (!S_ISREG(st.st_mode)) {
    diag.error(file, "tuning database is not a regular file", {}, ExitCode::IoError);
    return std::nullopt;
  }
  FILE* in = std::fopen(path.c_str(), "rb");
  if (!in) {
    diag.error(file, std::string("cannot open: ") + std::strerror(errno), {}, ExitCode::IoError);
    return std::nullopt;
  }
  // Lines longer than any record are malformed; their bytes are not kept.
  constexpr size_t kMaxLine = 1 << 20;
  std::vector<TuningRecord> records;
  std::string line;
  bool overlong = false, first_chunk = true;
  int number = 0, malformed = 0, shown = 0;
  bool failed = false;
  auto finish_line = [&](bool torn) {
    ++number;
    std::optional<TuningRecord> r;
    bool blank = line.find_first_not_of(" \t\r") == std::string::npos && !overlong;
    if (blank) {
      line.clear();
      return;
    }
    if (!overlong) r = parse_record(line);
    if (r) {
      r->line = number;
      records.push_back(std::move(*r));
    } else {
      ++malformed;
      const std::string why = overlong ? "skipped 1 malformed record (a line over 1 MiB)"
                              : torn   ? "skipped 1 malformed record (the last line is cut short: "
                                         "was the tuner killed while writing?)"
                                       : "skipped 1 malformed record";
      if (strict) {
        diag.error(file.at(number, 0), why + " (--strict-tuning-db)");
        failed = true;
      } else if (shown++ < 5) {
        diag.warning(file.at(number, 0), why);
      }
    }
    line.clear();
    overlong = false;
  };
  char buf[65536];
  size_t got;
  while (!failed && (got = std::fread(buf, 1, sizeof buf, in)) > 0) {
    if (first_chunk) {
      first_chunk = false;
      // A binary file (a pickle, an archive) shows at its start; garbage
      // further on is malformed lines.
      const bool pickle = static_cast<unsigned char>(buf[0]) == 0x80;
      if (pickle || std::memchr(buf, '\0', std::min<size_t>(got, 512))) {
        diag.error(file,
                   "not a tuning database: binary data (a tuning database is JSON lines written "
                   "by cnnc tune)",
                   {}, ExitCode::InvalidInput);
        std::fclose(in);
        return std::nullopt;
      }
    }
    for (size_t i = 0; i < got && !failed; ++i) {
      if (buf[i] == '\n') {
        finish_line(false);
      } else if (!overlong) {
        line += buf[i];
        if (line.size() > kMaxLine) overlong = true, line.clear();
      }
    }
  }
  const bool read_error = std::ferror(in);
  std::fclose(in);
  if (read_error) {
    diag.error(file, "read error", {}, ExitCode::IoError);
    return std::nullopt;
  }
  if (!failed && (!line.empty() || overlong)) finish_line(/*torn=*/true);
  if (failed) return std::nullopt;
  if (malformed > 1 || shown > 5)
    diag.warning(file, "skipped " + std::to_string(malformed) + " of " +
                           std::to_string(records.size() + static_cast<size_t>(malformed)) +
                           " records (malformed; --strict-tuning-db makes this an error)");
  return records;
}

bool append_tuning_record(const std::string& path, const TuningRecord& r, std::string& error) {
  const int fd = open(path.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) {
    error = path + ": cannot open for appending: " + std::strerror(errno);
    return false;
  }
  bool ok = flock(fd, LOCK_EX) == 0;
  std::string text = r.json_line();
  struct stat st {};
  // After a torn last line (a killed writer), start on a fresh line so this
  // record is not glued onto it.
  char last = '\n';
  if (ok && fstat(fd, &st) == 0 && st.st_size > 0 && pread(fd, &last, 1, st.st_size - 1) == 1 &&
      last != '\n')
    text.insert(0, "\n");
  ok = ok && write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  if (!ok) error = path + ": cannot append: " + std::strerror(errno);
  close(fd);  // releases the lock
  return ok;
}

TunedSchedules::TunedSchedules(const std::vector<TuningRecord>& records, const std::string& db_path,
                               const LoweredModel& m, const TargetSet& targets,
                               DiagnosticEngine& diag)
    : state_(std::make_shared<State>()) {
  std::map<std::string, size_t> spec_of;
  for (size_t i = 0; i < m.specs.size(); ++i) spec_of.emplace(m.specs[i].key(), i);
  std::map<std::string, Isa> isa_of_target;
  for (const std::string& t : targets.targets) isa_of_target[tuning_target(t)] = isa_of(t);
  variants_ = static_cast<int>(m.specs.size() * targets.targets.size());
  int other_kernel = 0, other_target = 0, other_version = 0;
  const std::string halide = halide_version(), revision = templates_revision();
  std::map<std::pair<std::string, Isa>, const TuningRecord*> last;
  for (const TuningRecord& r : records) {
    if (r.kind != "best" || r.status != "ok") continue;
    if (!spec_of.count(r.signature)) {
      ++other_kernel;
      continue;
    }
    auto t = isa_of_target.find(r.target);
    if (t == isa_of_target.end()) {
      ++other_target;
      continue;
    }
    if (r.halide != halide || r.templates != revision) {
      ++other_version;
      continue;
    }
    last[{r.signature, t->second}] = &r;
  }
  const SourceLoc file = make_file_loc(db_path);
  for (const auto& [key, r] : last) {
    const std::string problem = schedule_problem(m.specs[spec_of[key.first]], r->schedule);
    if (!problem.empty()) {
      diag.warning(file.at(r->line, 0), "record for '" + r->layers + "' has " + problem +
                                            "; ignored (the default schedule is used)");
      continue;
    }
    state_->chosen[key] = *r;
    state_->specs.emplace(key.first, m.specs[spec_of[key.first]]);
  }
  std::string skipped;
  auto count = [&](int n, const char* what) {
    if (n) skipped += (skipped.empty() ? "" : ", ") + std::to_string(n) + " " + what;
  };
  count(other_target, "for other targets");
  count(other_version, "for another Halide or kernel-template version");
  count(other_kernel, "for kernels not in this network");
  if (!skipped.empty()) diag.note(file, "best records not used: " + skipped);
}

ScheduleFn TunedSchedules::schedule_fn() const {
  std::shared_ptr<State> state = state_;
  return [state](const KernelSpec& spec, Isa isa) {
    auto it = state->chosen.find({spec.key(), isa});
    return it == state->chosen.end() ? default_schedule(spec, isa) : it->second.schedule;
  };
}

int TunedSchedules::tuned() const { return static_cast<int>(state_->chosen.size()); }

int TunedSchedules::changed() const {
  int n = 0;
  for (const auto& [key, r] : state_->chosen)
    if (!(r.schedule == default_schedule(state_->specs.at(key.first), key.second))) ++n;
  return n;
}

bool TunedSchedules::drop(const KernelSpec& spec) const {
  bool any = false;
  const std::string key = spec.key();
  for (auto it = state_->chosen.begin(); it != state_->chosen.end();)
    if (it->first.first == key)
      it = state_->chosen.erase(it), any = true;
    else
      ++it;
  return any;
}

const TuningRecord* TunedSchedules::record(const KernelSpec& spec, Isa isa) const {
  auto it = state_->chosen.find({spec.key(), isa});
  return it == state_->chosen.end() ? nullptr : &it->second;
}

}  // namespace cnnc::halide
