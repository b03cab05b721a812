#pragma once
// The state file of splitmail-ddns: what it last published, its write history (for the rate
// limiter), the flap-damping penalty and a pending Retry-After deadline.
//
// Guarantees: save_state writes a temporary file, fsyncs it, renames it over the old one and
// fsyncs the directory, so a crash leaves either the old or the new state, never a torn one.
// A missing file is an empty state. A file that does not parse is reported as an error and left
// in place (the caller moves it aside; nothing is deleted silently).
// Does not: decide anything; the agent does.
#include <expected>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "rate_limiter.hpp"

namespace splitmail::ddns {

struct state {
    std::string domain;
    // "subname/TYPE" ("/A" for the apex) -> records as last written by us.
    std::map<std::string, std::vector<std::string>> published;
    std::vector<time_point> writes; // write attempts of the last day
    damper::snapshot damping;
    std::optional<time_point> not_before; // deSEC asked us (429) to wait until then

    bool operator==(const state&) const = default;
};

std::string state_to_json(const state& s);
std::expected<state, std::string> state_from_json(std::string_view text);

std::expected<state, std::string> load_state(const std::filesystem::path& file);
std::expected<void, std::string> save_state(const std::filesystem::path& file, const state& s);

} // namespace splitmail::ddns
