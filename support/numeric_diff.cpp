#include "support/numeric_diff.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

namespace cnnc {

namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string element(const std::string& name, size_t i, double got, double want) {
  return (name.empty() ? "" : "'" + name + "'") + "[" + std::to_string(i) +
         "]: " + fmt("%.9g", got) + " vs " + fmt("%.9g", want);
}

}  // namespace

std::string Tolerance::str() const {
  return fmt("%.0e", rtol) + "*|ref| + " + fmt("%.0e", floor) + "*max|ref|";
}

std::string NumericDiff::str() const {
  if (nonfinite > 0)
    return std::to_string(nonfinite) + " value" + (nonfinite > 1 ? "s" : "") +
           " NaN or infinite on one side only (first: " + where + ")";
  return "max |diff| " + fmt("%.3g", max_abs) + ", " + fmt("%.3g", worst) + " of the tolerance" +
         (worst > 1 ? " (worst: " + where + ")" : "");
}

void NumericDiff::merge(const NumericDiff& o) {
  if (o.nonfinite > 0 && nonfinite == 0) where = o.where;
  if (nonfinite == 0 && o.nonfinite == 0 && o.worst > worst) where = o.where;
  max_abs = std::max(max_abs, o.max_abs);
  worst = std::max(worst, o.worst);
  nonfinite += o.nonfinite;
  elements += o.elements;
}

NumericDiff numeric_diff(std::span<const float> got, std::span<const float> want,
                         const Tolerance& tol, const std::string& name) {
  NumericDiff d;
  d.elements = static_cast<int64_t>(want.size());
  double scale = 0;
  for (float w : want)
    if (std::isfinite(w)) scale = std::max(scale, std::fabs(static_cast<double>(w)));
  const size_t n = std::min(got.size(), want.size());
  if (got.size() != want.size()) {
    d.nonfinite = static_cast<int64_t>(std::max(got.size(), want.size()) - n);
    d.where = (name.empty() ? "" : "'" + name + "': ") + std::to_string(got.size()) +
              " values vs " + std::to_string(want.size());
  }
  for (size_t i = 0; i < n; ++i) {
    const double g = got[i], w = want[i];
    if (!std::isfinite(g) || !std::isfinite(w)) {
      const bool same = (std::isnan(g) && std::isnan(w)) || (std::isinf(g) && g == w);
      if (!same && d.nonfinite++ == 0) d.where = element(name, i, g, w);
      continue;
    }
    const double diff = std::fabs(g - w);
    const double t = tol.rtol * std::fabs(w) + tol.floor * scale;
    const double ratio = diff == 0 ? 0 : t > 0 ? diff / t : HUGE_VAL;
    d.max_abs = std::max(d.max_abs, diff);
    if (ratio > d.worst) {
      d.worst = ratio;
      if (d.nonfinite == 0) d.where = element(name, i, g, w);
    }
  }
  return d;
}

}  // namespace cnnc
