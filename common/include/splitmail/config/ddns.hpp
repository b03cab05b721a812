#pragma once
// splitmail-ddns settings: the table (key, type, default, doc) ddns.toml is checked against and
// docs/configuration.md is rendered from, and the typed, immutable struct built from it. It
// lives in common/ because `splitmail check` (home: is the DDNS record current?) and the
// renderer of `splitmail provision home` read ddns.toml through the same table (issue 13).
//
// Guarantees: settings_from() rejects every value the agent could not use (non-https URLs,
// bad names, unknown sources, intervals below one second) with "FILE: KEY: REASON" and
// " (line N)" when the file sets KEY. read_token() refuses a token file that group or others
// may access.
// Does not: read the token as part of the settings (it is a secret; see read_token), or
// detect addresses (ddns/ip_source.hpp does, from the sources parsed here).
#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "splitmail/config/settings.hpp"

namespace splitmail::ddns {

// Where the agent learns an address (ipv4.source / ipv6.source): "checkip" (deSEC's checkip
// service), "url:https://..." (plain-text answer), "interface:NAME" or "off".
struct ip_source {
    enum class kind { off, checkip, url, interface } type = kind::off;
    std::string argument; // URL or interface name

    bool operator==(const ip_source&) const = default;
};

std::expected<ip_source, std::string> parse_ip_source(std::string_view spec);
std::string to_string(const ip_source& s);

struct detector_config {
    ip_source v4;
    ip_source v6;
    std::string checkip_v4 = "https://checkipv4.dedyn.io/";
    std::string checkip_v6 = "https://checkipv6.dedyn.io/";
};

std::span<const config::setting_spec> settings_table();

struct settings {
    std::string domain;
    std::vector<std::string> subnames; // "" is the apex
    bool ipv4 = true;
    bool ipv6 = true;
    std::uint32_t ttl = 0; // 0: the domain's minimum_ttl
    std::chrono::seconds interval{300};
    std::chrono::seconds refresh_interval{3600};
    std::chrono::seconds retry_initial{10};
    std::chrono::seconds retry_max{1800};
    bool damping = true;
    std::chrono::seconds damping_half_life{900};
    std::filesystem::path state_file;
    detector_config sources;
    std::string api_url;
    std::filesystem::path token_file;
    std::filesystem::path ca_file;
    std::chrono::seconds timeout{30};
    std::string log_level = "info";
};

std::expected<settings, std::string> settings_from(const config::values& v,
                                                   const std::string& file_name);
// Loads and checks ddns.toml (config::load + settings_from).
std::expected<settings, std::string> load_settings(const std::filesystem::path& file);

// "home.example.dedyn.io" for subname "home" of domain "example.dedyn.io"; the domain for "".
std::string display_name(std::string_view subname, std::string_view domain);

// Reads the API token: the file must not be accessible by group or others, and must hold one
// printable token (surrounding whitespace is ignored).
std::expected<std::string, std::string> read_token(const std::filesystem::path& file);

} // namespace splitmail::ddns
