#include "backends/halide/schedule_space.h"

#include <algorithm>
#include <set>

#include "backends/halide/winograd.h"
#include "support/internal_error.h"

namespace cnnc::halide {

namespace {

// Vector registers a register tile may fill with accumulators, leaving two
// for the broadcast input and the weights.
int accumulator_limit(Isa isa) { return (isa == Isa::Avx512 ? 32 : 16) - 2; }

int vectors(int width, Isa isa) { return (width + lanes(isa) - 1) / lanes(isa); }

// The output's width and height as the template tiles them.
struct OutShape {
  int width = 1, height = 1, channels = 1;
};
OutShape out_shape(const KernelSpec& k) {
  const Geometry& g = k.args.back();
  OutShape o;
  if (k.family == Family::Conv && k.block) {
    o.width = k.out_blocked ? g.extent[0] / k.block : g.extent[0];
    o.height = g.extent[1];
    o.channels = k.out_blocked ? g.extent[2] : g.extent[2] / k.block;  // channel blocks
  } else if (k.family == Family::Conv || k.family == Family::ConvGradInput) {
    o.width = g.extent[0], o.height = g.extent[1], o.channels = g.extent[2];
  } else {
    o.width = g.extent[0], o.height = g.rank > 1 ? g.extent[1] : 1;
  }
  return o;
}

std::vector<int> divisors(int n) {
  std::vector<int> d;
  for (int i = 1; i <= n; ++i)
    if (n % i == 0) d.push_back(i);
  return d;
}

bool power_of_two(int v) { return v > 0 && (v & (v - 1)) == 0; }

}  // namespace

int schedule_field(const Schedule& s, const std::string& name) {
  if (name == "vector") return s.vector;
  if (name == "tile_k") return s.tile_k;
  if (name == "tile_x") return s.tile_x;
  if (name == "parallel_split") return s.parallel_split;
  if (name == "chunk") return s.chunk;
  if (name == "parallel") return s.parallel ? 1 : 0;
  if (name == "fuse_pixels") return s.fuse_pixels ? 1 : 0;
  if (name == "share_input") return s.share_input ? 1 : 0;
  CNNC_INTERNAL_ERROR() << "no schedule field '" << name << "'";
}

bool schedule_field_is_flag(const std::string& name) {
  return name == "parallel" || name == "fuse_pixels" || name == "share_input";
}

void set_schedule_field(Schedule& s, const std::string& name, int value) {
  if (name == "vector")
    s.vector = value;
  else if (name == "tile_k")
    s.tile_k = value;
  else if (name == "tile_x")
    s.tile_x = value;
  else if (name == "parallel_split")
    s.parallel_split = value;
  else if (name == "chunk")
    s.chunk = value;
  else if (name == "parallel")
    s.parallel = value != 0;
  else if (name == "fuse_pixels")
    s.fuse_pixels = value != 0;
  else if (name == "share_input")
    s.share_input = value != 0;
  else
    CNNC_INTERNAL_ERROR() << "no schedule field '" << name << "'";
}

std::string schedule_problem(const KernelSpec& k, const Schedule& s) {
  auto range = [](const char* name, int v, int lo, int hi) {
    return v < lo || v > hi ? std::string(name) + " " + std::to_string(v) + " (must be " +
                                  std::to_string(lo) + " to " + std::to_string(hi) + ")"
                            : std::string();
  };
  if (!power_of_two(s.vector) || s.vector > 16)
    return "vector width " + std::to_string(s.vector) + " (must be 1, 2, 4, 8 or 16)";
  std::string p;
  if (!(p = range("chunk", s.chunk, 0, 1 << 20)).empty()) return p;
  const OutShape o = out_shape(k);
  int max_x = 64, max_k = 64, max_split = std::max(1, o.height);
  if (k.family == Family::Conv && k.block) {
    max_x = std::min(max_x, o.width);
    max_k = std::min(max_k, o.channels);
    if (o.height == 1) max_split = o.width;  // tiles of the one row per task
  } else if (s.fuse_pixels) {
    // Tiles of V·tile_x of the pixels of every image; never a row of pixels.
    const Geometry& g = k.args.back();
    const int64_t pixels = int64_t{g.extent[0]} * g.extent[1] * g.extent[3];
    if (k.family == Family::ConvGradWeight) {
      if (k.conv.groups != 1) return "fuse_pixels on a grouped convolution's weight gradient";
      return std::string();  // channel tiles with guarded tails
    }
    if (k.family != Family::Conv && k.family != Family::ConvGradInput)
      return "fuse_pixels on a " + std::string(family_name(k.family)) + " kernel";
    if (s.vector * s.tile_x > pixels)
      return "tile_x " + std::to_string(s.tile_x) + " × vector " + std::to_string(s.vector) +
             " wider than the output's pixels (" + std::to_string(pixels) + ")";
    max_k = std::min(max_k, o.channels);
    max_split = static_cast<int>(std::min<int64_t>(1 << 20, pixels));
  } else if (k.family == Family::Conv || k.family == Family::Linear) {
    // The output splits V·tile_x wide: no wider than the output.
    if (s.vector * s.tile_x > o.width)
      return "tile_x " + std::to_string(s.tile_x) + " × vector " + std::to_string(s.vector) +
             " wider than the output (" + std::to_string(o.width) + ")";
    if (k.family == Family::Conv) max_k = std::min(max_k, o.channels);
  }
  if (!(p = range("tile_x", s.tile_x, 1, max_x)).empty()) return p;
  if (!(p = range("tile_k", s.tile_k, 1, max_k)).empty()) return p;
  return range("parallel_split", s.parallel_split, 1, max_split);
}

ScheduleSpace::ScheduleSpace(const KernelSpec& spec, Isa isa, const Schedule& base)
    : spec_(spec), isa_(isa), base_(base) {
  const OutShape o = out_shape(spec);
  const int L = lanes(isa);
  auto add = [&](const char* name, std::set<int> values) {
    values.insert(schedule_field(base, name));
    if (values.size() > 1) dims_.push_back({name, {values.begin(), values.end()}});
  };
  auto range = [](int lo, int hi) {
    std::set<int> v;
    for (int i = lo; i <= hi; ++i) v.insert(i);
    return v;
  };
  std::set<int> widths;
  for (int v : {L / 2, L, 2 * L})
    if (v <= o.width) widths.insert(v);
  switch (spec.family) {
    case Family::Conv:
      if (spec.winograd) {
        // Register tiles of transform tiles × channel blocks; tasks of tile
        // rows × channel blocks (the template takes divisors of the blocks),
        // the input transform per task or shared.
        const int tile_rows = static_cast<int>(winograd_tiles(o.height));
        add("tile_x", range(1, 8));
        add("tile_k", range(1, std::min(4, o.channels)));
        add("parallel_split", range(1, tile_rows));
        std::set<int> groups;
        for (int d : divisors(o.channels)) groups.insert(d);
        add("chunk", groups);
        add("share_input", {0, 1});
      } else if (spec.block) {
        add("tile_x", range(1, std::min(8, o.width)));
        add("tile_k", range(1, std::min(4, o.channels)));
        // Rows per task, or on a one-row output (a 1x1 convolution's flat
        // pixels) the default's tiles split into 1 to 16 tasks.
        std::set<int> splits;
        if (o.height == 1) {
          const int tiles = (o.width + base.tile_x - 1) / base.tile_x;
          for (int n : {1, 2, 3, 4, 6, 8, 12, 16}) splits.insert((tiles + n - 1) / n);
        } else {
          for (int d : divisors(o.height)) splits.insert(d);
        }
        add("parallel_split", splits);
        // Chunks of whole input blocks, as the template sums them.
        const auto [C, Bi] = input_blocks(spec);
        if (spec.conv.groups == 1) {
          std::set<int> chunks;
          for (int d : divisors(C / Bi))
            if (d * Bi <= 512) chunks.insert(d * Bi);
          add("chunk", chunks);
        }
      } else {
        add("vector", widths);
        add("tile_x", range(1, 4));
        add("tile_k", range(1, std::min(16, o.channels)));
        // Narrow maps: pixels of every image as the lanes, or rows (the
        // template's two paths; schedule_problem rejects the misfits).
        if (o.width < 2 * L) add("fuse_pixels", {0, 1});
      }
      break;
    case Family::Linear:
      add("vector", widths);
      add("tile_x", range(1, 4));
      add("tile_k", range(1, std::min(8, o.height)));
      break;
    default:
      add("vector", {1, 4, 8, 16});
      break;
  }
  add("parallel", {0, 1});
}

bool ScheduleSpace::accepts(const Schedule& s) const {
  if (!schedule_problem(spec_, s).empty()) return false;
  int acc = 0;
  if (spec_.family == Family::Conv && spec_.block)
    acc = s.tile_x * s.tile_k * vectors(spec_.block, isa_);
  else if (spec_.family == Family::Conv || spec_.family == Family::Linear)
    acc = s.tile_x * s.tile_k * vectors(s.vector, isa_);
  return acc <= accumulator_limit(isa_);
}

std::vector<Schedule> ScheduleSpace::neighbours(const Schedule& s) const {
  std::vector<Schedule> out;
  for (const Dim& d : dims_) {
    const int v = schedule_field(s, d.name);
    const auto it = std::lower_bound(d.values.begin(), d.values.end(), v);
    const auto pos = it - d.values.begin();
    for (auto next : {pos - 1, (it != d.values.end() && *it == v) ? pos + 1 : pos}) {
      if (next < 0 || next >= static_cast<long>(d.values.size())) continue;
      Schedule n = s;
      set_schedule_field(n, d.name, d.values[static_cast<size_t>(next)]);
      // A wider channel tile that overflows the registers takes a narrower
      // pixel tile (k1 x5 -> k2 x3): register tiles trade one for the other.
      if (!accepts(n) && d.name != "tile_x") {
        for (const Dim& x : dims_) {
          if (x.name != "tile_x") continue;
          for (auto w = x.values.rbegin(); w != x.values.rend() && !accepts(n); ++w)
            if (*w < n.tile_x) n.tile_x = *w;
        }
      }
      if (accepts(n) && !(n == s)) out.push_back(n);
    }
  }
  return out;
}

Schedule ScheduleSpace::random(RandomStream& rng) const {
  for (int attempt = 0; attempt < 100; ++attempt) {
    Schedule s = base_;
    for (const Dim& d : dims_)
      set_schedule_field(s, d.name, d.values[rng.next() % d.values.size()]);
    if (accepts(s)) return s;
  }
  return base_;
}

}  // namespace cnnc::halide
