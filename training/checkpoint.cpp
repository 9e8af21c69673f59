#include "training/checkpoint.h"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <map>
#include <sstream>

#include "io/safetensors.h"

namespace cnnc::training {

namespace fs = std::filesystem;

namespace {

// CRC-32 of the tensors in name order (names, shapes and values).
std::string checksum(std::vector<std::pair<std::string, const ir::Tensor*>> tensors) {
  std::sort(tensors.begin(), tensors.end(),
            [](const auto& a, const auto& b) { return a.first < b.first; });
  uLong crc = crc32(0L, Z_NULL, 0);
  for (const auto& [name, t] : tensors) {
    const std::string head = name + ":" + t->shape.str() + ";";
    crc = crc32(crc, reinterpret_cast<const Bytef*>(head.data()), static_cast<uInt>(head.size()));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(t->data.data()),
                static_cast<uInt>(t->data.size() * sizeof(float)));
  }
  char buf[16];
  std::snprintf(buf, sizeof buf, "%08lx", static_cast<unsigned long>(crc));
  return buf;
}

bool is_optimizer_state(const std::string& name) {
  for (const char* s : {".momentum", ".adam_m", ".adam_v"})
    if (name.ends_with(s)) return true;
  return false;
}

// Checkpoints of `dir`, newest first.
std::vector<std::pair<int64_t, std::string>> list(const std::string& dir) {
  std::vector<std::pair<int64_t, std::string>> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    long long step = 0;
    char tail[32] = {};
    if (n.starts_with("ckpt-") && n.ends_with(".safetensors") &&
        std::sscanf(n.c_str(), "ckpt-%lld.%31s", &step, tail) == 2 &&
        std::string(tail) == "safetensors")
      out.emplace_back(step, e.path().string());
  }
  std::sort(out.rbegin(), out.rend());
  return out;
}

std::string get(const io::Metadata& m, const std::string& key) {
  for (const auto& [k, v] : m)
    if (k == key) return v;
  return "";
}

}  // namespace

std::string write_checkpoint(const std::string& dir, const ir::Graph& g, const CheckpointState& st,
                             DiagnosticEngine& diag) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  std::vector<std::pair<std::string, const ir::Tensor*>> tensors;
  for (const ir::Value* p : g.params()) tensors.emplace_back(p->name, p->data.get());
  char name[64];
  std::snprintf(name, sizeof name, "ckpt-%08lld.safetensors", static_cast<long long>(st.step));
  const std::string path = (fs::path(dir) / name).string();
  char initial[32], progress[96];
  std::snprintf(initial, sizeof initial, "%.17g", st.initial_loss);
  std::snprintf(progress, sizeof progress, "%.17g,%lld,%lld", st.epoch_loss_sum,
                static_cast<long long>(st.epoch_hits), static_cast<long long>(st.epoch_seen));
  io::Metadata meta = {{"cnnc.checkpoint", std::to_string(kCheckpointFormat)},
                       {"cnnc.network", g.name},
                       {"epoch", std::to_string(st.epoch)},
                       {"batch", std::to_string(st.batch)},
                       {"step", std::to_string(st.step)},
                       {"seed", std::to_string(st.seed)},
                       {"batch_size", std::to_string(st.batch_size)},
                       {"optimizer", st.optimizer},
                       {"initial_loss", initial},
                       {"schedule", st.schedule},
                       {"history", st.history},
                       {"settings", st.settings},
                       {"epoch_progress", progress},
                       {"crc32", checksum(tensors)}};
  io::write_safetensors(path, tensors, meta, diag);
  return path;
}

std::optional<CheckpointState> load_latest_checkpoint(const std::string& dir, ir::Graph& g,
                                                      bool reset_optimizer, DiagnosticEngine& diag,
                                                      const CheckpointAccept& accept) {
  for (const auto& [step, path] : list(dir)) {
    std::ostringstream why;
    DiagnosticEngine quiet(why);
    io::Metadata meta;
    auto tensors = io::read_safetensors(path, quiet, {}, &meta);
    std::string problem;
    if (!tensors) {
      problem = why.str();
      while (!problem.empty() && problem.back() == '\n') problem.pop_back();
    } else {
      std::vector<std::pair<std::string, const ir::Tensor*>> view;
      for (const auto& t : *tensors) view.emplace_back(t.name, &t.tensor);
      if (checksum(view) != get(meta, "crc32")) problem = "checksum mismatch (file damaged)";
    }
    if (!problem.empty()) {
      diag.warning(make_file_loc(path), problem + "; trying the previous checkpoint");
      continue;
    }
    const SourceLoc loc = make_file_loc(path);
    const std::string format = get(meta, "cnnc.checkpoint");
    if (format.empty() || std::atoi(format.c_str()) > kCheckpointFormat) {
      diag.error(loc, format.empty()
                          ? "not a cnnc checkpoint (no cnnc.checkpoint metadata)"
                          : "checkpoint format " + format + " is newer than supported (" +
                                std::to_string(kCheckpointFormat) + ")");
      return std::nullopt;
    }
    for (const char* key : {"seed", "epoch", "batch", "step"})
      if (get(meta, key).empty())
        diag.warning(loc, std::string("checkpoint has no '") + key +
                              "' (RNG and data-order state); the resumed run will not reproduce "
                              "the uninterrupted one");
    CheckpointState st;
    st.epoch = std::atoll(get(meta, "epoch").c_str());
    st.batch = std::atoll(get(meta, "batch").c_str());
    st.step = std::atoll(get(meta, "step").c_str());
    st.seed = std::strtoull(get(meta, "seed").c_str(), nullptr, 10);
    st.batch_size = std::atoll(get(meta, "batch_size").c_str());
    st.optimizer = get(meta, "optimizer");
    st.initial_loss = std::atof(get(meta, "initial_loss").c_str());
    st.schedule = get(meta, "schedule");
    st.history = get(meta, "history");
    st.settings = get(meta, "settings");
    long long hits = 0, seen = 0;
    if (std::sscanf(get(meta, "epoch_progress").c_str(), "%lf,%lld,%lld", &st.epoch_loss_sum, &hits,
                    &seen) == 3) {
      st.epoch_hits = hits;
      st.epoch_seen = seen;
    }
    // The run's settings first: a changed optimizer or --freeze would
    // otherwise show as missing optimizer state.
    if (accept && !accept(st, loc)) return std::nullopt;
    std::map<std::string, const ir::Tensor*> by_name;
    for (const auto& t : *tensors) by_name[t.name] = &t.tensor;
    int mismatches = 0;
    std::string first;
    for (ir::Value* p : g.params()) {
      auto it = by_name.find(p->name);
      std::string m;
      if (it == by_name.end()) {
        if (reset_optimizer && is_optimizer_state(p->name)) continue;  // stays zero
        m = "checkpoint has no '" + p->name + "'" +
            (is_optimizer_state(p->name)
                 ? " (optimizer state; --reset-optimizer starts it from zero)"
                 : "");
      } else if (it->second->shape != p->type.shape) {
        m = "checkpoint has '" + p->name + "' " + it->second->shape.str() +
            "; this network needs " + p->type.shape.str();
      } else {
        p->data = std::make_shared<const ir::Tensor>(*it->second);
        continue;
      }
      if (mismatches++ == 0) first = m;
    }
    if (mismatches > 0) {
      diag.error(
          loc, first + (mismatches > 1 ? " (first of " + std::to_string(mismatches) + " mismatches)"
                                       : ""));
      return std::nullopt;
    }
    diag.note(loc, "resuming from step " + std::to_string(st.step) + " (epoch " +
                       std::to_string(st.epoch + 1) + ", batch " + std::to_string(st.batch) + ")");
    return st;
  }
  return std::nullopt;
}

void prune_checkpoints(const std::string& dir, int64_t keep) {
  auto all = list(dir);
  std::error_code ec;
  for (size_t i = static_cast<size_t>(std::max<int64_t>(keep, 1)); i < all.size(); ++i)
    fs::remove(all[i].second, ec);
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.starts_with(".ckpt-") && n.find(".tmp.") != std::string::npos) fs::remove(e.path(), ec);
  }
}

}  // namespace cnnc::training
