// "Did you mean ...?" suggestions for misspelt names.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cnnc {

/// Edit distance: insert, delete, substitute or swap two adjacent characters, each cost 1.
size_t edit_distance(std::string_view a, std::string_view b);

/// The candidate closest to `word`, if it is close enough to be a likely typo
/// (distance at most max(1, |word| / 3)); ties go to the last candidate.
std::optional<std::string> closest_match(std::string_view word,
                                         const std::vector<std::string>& candidates);

/// "; did you mean 'x'?" or "" (quote is ' or ").
std::string did_you_mean(std::string_view word, const std::vector<std::string>& candidates,
                         char quote = '\'');

}  // namespace cnnc
