#include "tools/cnnc/run_io.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>

#include "support/suggest.h"
#include "tools/cnnc/args.h"

namespace cnnc::tool {

Binding split_binding(const std::string& v) {
  auto eq = v.find('=');
  if (eq == std::string::npos) return {"", v};
  return {v.substr(0, eq), v.substr(eq + 1)};
}

std::vector<Bound> match(const std::vector<Binding>& bs, const std::vector<std::string>& names,
                         const char* flag, const char* kind, DiagnosticEngine& diag) {
  std::vector<Bound> out;
  std::map<std::string, std::string> seen;
  for (const Binding& b : bs) {
    size_t v = names.size();
    if (b.name.empty()) {
      if (names.size() != 1) {
        std::string list;
        for (const auto& n : names) list += (list.empty() ? "" : ", ") + n;
        diag.error(SourceLoc{},
                   std::string(flag) + " " + b.file + ": the network has " +
                       std::to_string(names.size()) + " " + kind + "s (" + list + "); write " +
                       flag + " NAME=" + b.file,
                   {}, ExitCode::Usage);
        continue;
      }
      v = 0;
    } else {
      v = static_cast<size_t>(std::find(names.begin(), names.end(), b.name) - names.begin());
      if (v == names.size()) {
        diag.error(SourceLoc{},
                   std::string(flag) + ": the network has no " + kind + " '" + b.name + "'" +
                       did_you_mean(b.name, names),
                   {}, ExitCode::Usage);
        continue;
      }
    }
    if (!seen.emplace(names[v], b.file).second) {
      diag.error(SourceLoc{}, std::string(flag) + ": " + kind + " '" + names[v] + "' given twice",
                 {}, ExitCode::Usage);
      continue;
    }
    out.push_back({v, b.file});
  }
  return out;
}

void print_summary(const std::string& name, const ir::Tensor& t) {
  std::printf("output '%s': %s\n", name.c_str(), t.shape.str().c_str());
  if (t.data.empty()) return;
  double lo = t.data[0], hi = t.data[0], sum = 0;
  for (float v : t.data) {
    lo = std::min<double>(lo, v);
    hi = std::max<double>(hi, v);
    sum += v;
  }
  std::printf("  min %.6g  max %.6g  mean %.6g\n", lo, hi,
              sum / static_cast<double>(t.data.size()));
  if (t.shape.rank() == 2) {  // class scores: the best class of each row
    int64_t rows = t.shape[0], cols = t.shape[1];
    std::printf("  argmax:");
    for (int64_t r = 0; r < std::min<int64_t>(rows, 16); ++r) {
      auto row = t.data.begin() + r * cols;
      std::printf(" %lld", static_cast<long long>(std::max_element(row, row + cols) - row));
    }
    std::printf(rows > 16 ? " ...\n" : "\n");
  }
}

NumericDiff compare(const std::vector<ir::Tensor>& got, const std::vector<ir::Tensor>& want,
                    const std::vector<std::string>& names, const Tolerance& tol) {
  NumericDiff d;
  for (size_t i = 0; i < want.size(); ++i) {
    const std::string name = i < names.size() ? names[i] : "#" + std::to_string(i);
    if (i >= got.size() || got[i].shape != want[i].shape) {
      NumericDiff bad;
      bad.nonfinite = static_cast<int64_t>(want[i].data.size());
      bad.where = "'" + name + "': shape " + (i < got.size() ? got[i].shape.str() : "none") +
                  " vs " + want[i].shape.str();
      d.merge(bad);
      continue;
    }
    d.merge(numeric_diff(got[i].data, want[i].data, tol, name));
  }
  return d;
}

void add_io_options(ArgParser& p, std::vector<Binding>& inputs, std::vector<Binding>& outputs,
                    const char* what) {
  p.repeated_option("--input", "[NAME=]FILE.npy",
                    std::string("an input (NAME= needed when the ") + what + " has several)",
                    [&inputs](const std::string& v) {
                      inputs.push_back(split_binding(v));
                      return std::string();
                    });
  p.repeated_option("--output", "[NAME=]FILE.npy",
                    "write an output (default: print a summary of every output)",
                    [&outputs](const std::string& v) {
                      outputs.push_back(split_binding(v));
                      return std::string();
                    });
}

}  // namespace cnnc::tool
