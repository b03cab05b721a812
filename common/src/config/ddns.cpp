// splitmail-ddns's settings table, address sources and loader; see config/ddns.hpp.
#include "splitmail/config/ddns.hpp"

#include "splitmail/desec/token.hpp"

#include <sys/stat.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace splitmail::ddns {
namespace {

using config::kind;

constexpr std::array table{
    config::setting_spec{"ddns.domain", kind::string, "",
                         "The deSEC domain (zone) that holds the home's names, e.g. "
                         "`example.dedyn.io`.",
                         true},
    config::setting_spec{
        "ddns.names", kind::string_list, R"(["@"])",
        "Names to keep current, relative to the domain: `@` (or `\"\"`) is the "
        "apex, `home` means home.example.dedyn.io. All are written in one bulk request."},
    config::setting_spec{"ddns.families", kind::string, "\"both\"",
                         "Which records to maintain: `ipv4` (A), `ipv6` (AAAA) or `both`."},
    config::setting_spec{"ddns.ttl", kind::integer, "0",
                         "TTL of the records in seconds; 0 uses the domain's `minimum_ttl`. "
                         "Raised to `minimum_ttl` if lower, at most 86400."},
    config::setting_spec{"ddns.interval", kind::duration, "\"5m\"",
                         "How often the addresses are checked (at least 1s; sources of kind "
                         "`checkip` are asked at most every 20s, deSEC allows 3/min)."},
    config::setting_spec{"ddns.refresh_interval", kind::duration, "\"1h\"",
                         "How often the records are re-read from deSEC to notice changes made "
                         "elsewhere (they are always read at start)."},
    config::setting_spec{"ddns.retry_initial", kind::duration, "\"10s\"",
                         "First delay after a network error or 5xx; doubles (with jitter) per "
                         "failure up to `ddns.retry_max`."},
    config::setting_spec{"ddns.retry_max", kind::duration, "\"30m\"",
                         "Longest delay between retries after errors."},
    config::setting_spec{"ddns.damping", kind::boolean, "true",
                         "Damp a flapping address (RFC 2439 style): after 4 quick changes further "
                         "changes wait until the penalty has decayed."},
    config::setting_spec{"ddns.damping_half_life", kind::duration, "\"15m\"",
                         "Half-life of the flap-damping penalty."},
    config::setting_spec{"ddns.state_file", kind::path, "\"/var/lib/splitmail-ddns/state.json\"",
                         "State kept across restarts: last published values, write history for "
                         "the rate limiter, damping penalty, pending Retry-After."},
    config::setting_spec{"ipv4.source", kind::string, "\"checkip\"",
                         "Where the public IPv4 comes from: `checkip` (deSEC's checkipv4 "
                         "service), `url:https://...` (plain-text answer), `interface:NAME` or "
                         "`off`."},
    config::setting_spec{"ipv6.source", kind::string, "\"checkip\"",
                         "Where the public IPv6 comes from; same forms as `ipv4.source`. "
                         "`interface:NAME` takes the first global address."},
    config::setting_spec{"ipv4.checkip_url", kind::string, "\"https://checkipv4.dedyn.io/\"",
                         "The URL used by `ipv4.source = \"checkip\"`."},
    config::setting_spec{"ipv6.checkip_url", kind::string, "\"https://checkipv6.dedyn.io/\"",
                         "The URL used by `ipv6.source = \"checkip\"`."},
    config::setting_spec{"desec.api_url", kind::string, "\"https://desec.io/api/v1/\"",
                         "Base URL of the deSEC REST API (https only)."},
    config::setting_spec{"desec.token_file", kind::path, "",
                         "File holding the deSEC API token. Must not be readable by group or "
                         "others (mode 0600 or 0400). Best a token scoped to the home's A/AAAA.",
                         true},
    config::setting_spec{"desec.ca_file", kind::path, "",
                         "CA bundle to verify the API and HTTPS sources with instead of the "
                         "system store (for tests). Verification itself cannot be turned off."},
    config::setting_spec{"desec.timeout", kind::duration, "\"30s\"",
                         "Total time limit of one HTTPS request."},
    config::setting_spec{"log.level", kind::string, "\"info\"", "debug, info, warn or error."},
};

bool valid_subname(std::string_view s) {
    // Labels of letters, digits, '-', '_' (SRV-style) and '*', separated by dots.
    if (s.size() > 200 || s.front() == '.' || s.back() == '.') return false;
    for (char c : s) {
        bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
                  c == '.' || c == '*';
        if (!ok) return false;
    }
    return s.find("..") == std::string_view::npos;
}

} // namespace

std::span<const config::setting_spec> settings_table() { return table; }

std::expected<ip_source, std::string> parse_ip_source(std::string_view spec) {
    if (spec == "off") return ip_source{ip_source::kind::off, {}};
    if (spec == "checkip") return ip_source{ip_source::kind::checkip, {}};
    if (spec.starts_with("url:")) {
        std::string url(spec.substr(4));
        // TLS is always verified: a plain-http source could be spoofed by anyone on the path.
        if (!url.starts_with("https://") || url.size() <= 8)
            return std::unexpected("a url: source must be an https:// URL");
        return ip_source{ip_source::kind::url, url};
    }
    if (spec.starts_with("interface:")) {
        std::string name(spec.substr(10));
        if (name.empty() || name.size() > 15 || name.find('/') != std::string::npos)
            return std::unexpected("interface: needs a network interface name");
        return ip_source{ip_source::kind::interface, name};
    }
    return std::unexpected("unknown address source \"" + std::string(spec) +
                           "\" (use checkip, url:https://..., interface:NAME or off)");
}

std::string to_string(const ip_source& s) {
    switch (s.type) {
    case ip_source::kind::off: return "off";
    case ip_source::kind::checkip: return "checkip";
    case ip_source::kind::url: return "url:" + s.argument;
    case ip_source::kind::interface: return "interface:" + s.argument;
    }
    return "?";
}

std::expected<settings, std::string> settings_from(const config::values& v,
                                                   const std::string& file) {
    auto fail = [&](std::string_view key, const std::string& why) {
        return std::unexpected(file + ": " + std::string(key) + ": " + why + v.where(key));
    };
    settings s;
    s.domain = v.get_string("ddns.domain");
    if (s.domain.empty() || !valid_subname(s.domain) || s.domain.find('.') == std::string::npos)
        return fail("ddns.domain", "not a domain name (lower case, e.g. example.dedyn.io)");
    for (const auto& n : v.get_list("ddns.names")) {
        std::string name = n == "@" ? std::string{} : n;
        if (!name.empty() && !valid_subname(name))
            return fail("ddns.names", "\"" + n + "\" is not a subname (lower case labels)");
        for (const auto& seen : s.subnames)
            if (seen == name) return fail("ddns.names", "\"" + n + "\" is listed twice");
        s.subnames.push_back(std::move(name));
    }
    if (s.subnames.empty()) return fail("ddns.names", "no names to keep current");
    auto fam = v.get_string("ddns.families");
    if (fam == "ipv4")
        s.ipv6 = false;
    else if (fam == "ipv6")
        s.ipv4 = false;
    else if (fam != "both")
        return fail("ddns.families", "must be ipv4, ipv6 or both");
    auto ttl = v.get_int("ddns.ttl");
    if (ttl < 0 || ttl > 86400) return fail("ddns.ttl", "must be 0..86400");
    s.ttl = static_cast<std::uint32_t>(ttl);
    s.interval = v.get_duration("ddns.interval");
    if (s.interval < std::chrono::seconds(1)) return fail("ddns.interval", "must be at least 1s");
    s.refresh_interval = v.get_duration("ddns.refresh_interval");
    if (s.refresh_interval < std::chrono::seconds(60))
        return fail("ddns.refresh_interval", "must be at least 60s (deSEC read limits)");
    s.retry_initial = v.get_duration("ddns.retry_initial");
    s.retry_max = v.get_duration("ddns.retry_max");
    if (s.retry_initial < std::chrono::seconds(1))
        return fail("ddns.retry_initial", "must be at least 1s");
    if (s.retry_max < s.retry_initial)
        return fail("ddns.retry_max", "must not be below ddns.retry_initial");
    s.damping = v.get_bool("ddns.damping");
    s.damping_half_life = v.get_duration("ddns.damping_half_life");
    if (s.damping_half_life < std::chrono::seconds(1))
        return fail("ddns.damping_half_life", "must be at least 1s");
    s.state_file = v.get_path("ddns.state_file");
    if (s.state_file.empty()) return fail("ddns.state_file", "must be set");

    auto src4 = parse_ip_source(v.get_string("ipv4.source"));
    if (!src4) return fail("ipv4.source", src4.error());
    auto src6 = parse_ip_source(v.get_string("ipv6.source"));
    if (!src6) return fail("ipv6.source", src6.error());
    s.sources.v4 = *src4;
    s.sources.v6 = *src6;
    if (s.ipv4 && s.sources.v4.type == ip_source::kind::off)
        return fail("ipv4.source", "is off but ddns.families includes ipv4");
    if (s.ipv6 && s.sources.v6.type == ip_source::kind::off)
        return fail("ipv6.source", "is off but ddns.families includes ipv6");
    s.sources.checkip_v4 = v.get_string("ipv4.checkip_url");
    s.sources.checkip_v6 = v.get_string("ipv6.checkip_url");
    for (auto [key, url] : {std::pair{"ipv4.checkip_url", &s.sources.checkip_v4},
                            std::pair{"ipv6.checkip_url", &s.sources.checkip_v6}})
        if (!url->starts_with("https://")) return fail(key, "must be an https:// URL");
    s.api_url = v.get_string("desec.api_url");
    if (!s.api_url.starts_with("https://")) return fail("desec.api_url", "must be an https:// URL");
    s.token_file = v.get_path("desec.token_file");
    if (s.token_file.empty()) return fail("desec.token_file", "must be set");
    if (v.has("desec.ca_file")) s.ca_file = v.get_path("desec.ca_file");
    s.timeout = v.get_duration("desec.timeout");
    if (s.timeout < std::chrono::seconds(1)) return fail("desec.timeout", "must be at least 1s");
    s.log_level = v.get_string("log.level");
    return s;
}

std::expected<settings, std::string> load_settings(const std::filesystem::path& file) {
    auto v = config::load(file, settings_table());
    if (!v) return std::unexpected(v.error());
    return settings_from(*v, file.string());
}

std::string display_name(std::string_view subname, std::string_view domain) {
    return subname.empty() ? std::string(domain) : std::string(subname) + "." + std::string(domain);
}

std::expected<std::string, std::string> read_token(const std::filesystem::path& file) {
    return desec::read_token_file(file); // the same rules as `splitmail dns apply`
}

} // namespace splitmail::ddns
