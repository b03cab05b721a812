// The state file of splitmail-ddns; see ddns/state.hpp.
#include "splitmail/ddns/state.hpp"

#include "splitmail/durable/file.hpp"
#include "splitmail/text/json_integer.hpp"

#include <algorithm>
#include <cstdint>
#include <limits>

#include <nlohmann/json.hpp>

namespace splitmail::ddns {
namespace {

using nlohmann::json;

std::int64_t to_ms(time_point t) {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
// Clamped to 1970..2100: a damaged file must not overflow the clock's nanosecond count.
time_point from_ms(std::int64_t ms) {
    constexpr std::int64_t year_2100 = 4'102'444'800'000;
    return time_point(std::chrono::milliseconds(std::clamp<std::int64_t>(ms, 0, year_2100)));
}

// A time in milliseconds as the file has it, whatever JSON number was written there (an
// edited or damaged file may hold 1e30 or 2^64): clamped into int64 before any conversion,
// which for a float out of range would be undefined. Not a number: `fallback`.
std::int64_t ms_of(const json& v, std::int64_t fallback = 0) {
    constexpr auto max = std::numeric_limits<std::int64_t>::max();
    if (v.is_number_unsigned())
        return static_cast<std::int64_t>(
            std::min<std::uint64_t>(v.get<std::uint64_t>(), static_cast<std::uint64_t>(max)));
    if (v.is_number_integer()) return v.get<std::int64_t>();
    if (v.is_number_float()) {
        const double d = v.get<double>();
        if (!(d == d)) return fallback; // NaN
        if (d >= 9.0e18) return max;
        if (d <= -9.0e18) return std::numeric_limits<std::int64_t>::min();
        return static_cast<std::int64_t>(d);
    }
    return fallback;
}

} // namespace

std::string published_key(std::string_view subname, std::string_view type) {
    return std::string(subname) + "/" + std::string(type);
}

std::string state_to_json(const state& s) {
    json j;
    j["version"] = 1;
    j["domain"] = s.domain;
    j["published"] = s.published;
    json w = json::array();
    for (auto t : s.writes) w.push_back(to_ms(t));
    j["writes_ms"] = w;
    j["damping"] = {{"penalty", s.damping.penalty},
                    {"updated_ms", to_ms(s.damping.updated)},
                    {"suppressed", s.damping.suppressed}};
    if (s.not_before) j["not_before_ms"] = to_ms(*s.not_before);
    if (!s.last_error.empty()) {
        j["last_error"] = s.last_error;
        j["last_error_ms"] = to_ms(s.last_error_at);
    }
    return j.dump(2) + "\n";
}

std::expected<state, std::string> state_from_json(std::string_view text) try {
    json j = json::parse(text.begin(), text.end(), nullptr, false);
    if (j.is_discarded() || !j.is_object()) return std::unexpected("not a JSON object");
    if (auto v = j.find("version"); v == j.end() || text::json_integer<int>(*v) != 1)
        return std::unexpected("unknown state version");
    state s;
    s.domain = j.value("domain", std::string{});
    if (auto p = j.find("published"); p != j.end() && p->is_object()) {
        for (auto it = p->begin(); it != p->end(); ++it) {
            if (!it.value().is_array()) return std::unexpected("published: not a list");
            std::vector<std::string> recs;
            for (const auto& r : it.value()) {
                if (!r.is_string()) return std::unexpected("published: not a string");
                recs.push_back(r.get<std::string>());
            }
            s.published[it.key()] = std::move(recs);
        }
    }
    if (auto w = j.find("writes_ms"); w != j.end() && w->is_array())
        for (const auto& t : *w)
            if (t.is_number_integer()) s.writes.push_back(from_ms(ms_of(t)));
    if (auto d = j.find("damping"); d != j.end() && d->is_object()) {
        s.damping.penalty = d->value("penalty", 0.0);
        if (auto u = d->find("updated_ms"); u != d->end()) s.damping.updated = from_ms(ms_of(*u));
        s.damping.suppressed = d->value("suppressed", false);
    }
    if (auto nb = j.find("not_before_ms"); nb != j.end() && nb->is_number_integer())
        s.not_before = from_ms(ms_of(*nb));
    if (auto e = j.find("last_error"); e != j.end() && e->is_string()) {
        s.last_error = e->get<std::string>();
        if (auto at = j.find("last_error_ms"); at != j.end()) s.last_error_at = from_ms(ms_of(*at));
    }
    return s;
} catch (const nlohmann::json::exception& e) {
    return std::unexpected(std::string("bad state: ") + e.what());
}

std::expected<state, std::string> load_state(const std::filesystem::path& file) {
    auto text = durable::read_file_if_exists(file, {1 << 20});
    if (!text) return std::unexpected(text.error().text());
    if (!*text) return state{};
    auto s = state_from_json(**text);
    if (!s) return std::unexpected(file.string() + ": " + s.error());
    return s;
}

std::expected<void, std::string> save_state(const std::filesystem::path& file, const state& s) {
    // One agent per state file: a fixed temporary name ("<file>.tmp", as before).
    durable::replace_options opt;
    opt.locked = true;
    auto r = durable::replace_file(file, state_to_json(s), opt);
    if (!r) return std::unexpected(r.error().text());
    return {};
}

} // namespace splitmail::ddns
