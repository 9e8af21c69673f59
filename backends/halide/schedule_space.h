// The search space of a kernel's schedule, for `cnnc tune`: which Schedule
// fields a template reads, the values worth trying for each, and which
// combinations the template accepts at all. Not a template source: editing
// the space does not change the code any schedule generates.
#pragma once

#include <string>
#include <vector>

#include "backends/halide/kernel_spec.h"
#include "backends/halide/schedule.h"
#include "support/random.h"

namespace cnnc::halide {

/// The Schedule fields by name, as the tuning database writes them.
inline constexpr const char* kScheduleFields[] = {"vector",         "tile_k",     "tile_x",
                                                  "parallel_split", "chunk",      "parallel",
                                                  "fuse_pixels",    "share_input"};
int schedule_field(const Schedule& s, const std::string& name);
/// Fields that are yes/no (the database writes them as JSON booleans).
bool schedule_field_is_flag(const std::string& name);
void set_schedule_field(Schedule& s, const std::string& name, int value);

/// Why `spec`'s template cannot build `s` ("" when it can): a tile or split
/// below 1 or wider than its extent, a vector width that is not a power of
/// two up to 16, a negative chunk.
std::string schedule_problem(const KernelSpec& spec, const Schedule& s);

class ScheduleSpace {
 public:
  struct Dim {
    std::string name;         ///< a Schedule field
    std::vector<int> values;  ///< ascending
  };

  /// The parameters `spec`'s template reads on `isa` with their candidate
  /// values, starting from (and always containing) `base`'s values.
  ScheduleSpace(const KernelSpec& spec, Isa isa, const Schedule& base);

  const std::vector<Dim>& dims() const { return dims_; }
  /// Legal (schedule_problem) and cheap enough to try: its register tile's
  /// accumulators fit the ISA's vector registers.
  bool accepts(const Schedule& s) const;
  /// The accepted schedules one step from `s`: one parameter moved to the
  /// next smaller or larger candidate value (and the pixel tile narrowed
  /// where the register tile would overflow otherwise).
  std::vector<Schedule> neighbours(const Schedule& s) const;
  /// An accepted schedule with every parameter drawn from its candidates
  /// (`base` when 100 draws find none).
  Schedule random(RandomStream& rng) const;

 private:
  KernelSpec spec_;
  Isa isa_;
  Schedule base_;
  std::vector<Dim> dims_;
};

}  // namespace cnnc::halide
