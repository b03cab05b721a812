#pragma once
// The state file of splitmail-ddns: what it last published, its write history (for the rate
// limiter), the flap-damping penalty, a pending Retry-After deadline and its last error.
//
// Guarantees: save_state writes a temporary file, fsyncs it, renames it over the old one and
// fsyncs the directory, so a crash leaves either the old or the new state, never a torn one.
// A missing file is an empty state. A file that does not parse is reported as an error and left
// in place (the caller moves it aside; nothing is deleted silently).
// Does not: decide anything; the agent does.
// It lives in common/ because `splitmail check` on the home reads what the agent last published
// and compares it with DNS (issue 16 bug 7); the agent (ddns/) is the only writer.
#include <chrono>
#include <expected>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::ddns {

using time_point = std::chrono::system_clock::time_point;

// The flap damper's state (ddns/rate_limiter.hpp, damper::save/restore).
struct damping_snapshot {
    double penalty = 0;
    time_point updated{};
    bool suppressed = false;
    bool operator==(const damping_snapshot&) const = default;
};

// The key of state::published for a name and record type: "home/A", "/AAAA" for the apex.
std::string published_key(std::string_view subname, std::string_view type);

struct state {
    std::string domain;
    // published_key() -> the records last written by us, or found at deSEC already holding the
    // detected address (what `splitmail check` expects DNS to answer).
    std::map<std::string, std::vector<std::string>> published;
    std::vector<time_point> writes; // write attempts of the last day
    damping_snapshot damping;
    std::optional<time_point> not_before; // deSEC asked us (429) to wait until then
    // Why the last request to deSEC failed ("" once one succeeded since), and when.
    std::string last_error;
    time_point last_error_at{};

    bool operator==(const state&) const = default;
};

std::string state_to_json(const state& s);
std::expected<state, std::string> state_from_json(std::string_view text);

std::expected<state, std::string> load_state(const std::filesystem::path& file);
std::expected<void, std::string> save_state(const std::filesystem::path& file, const state& s);

} // namespace splitmail::ddns
