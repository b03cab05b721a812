#pragma once
// splitmail-ddns settings: the table (key, type, default, doc) that the TOML loader checks and
// docs/configuration.md is rendered from, and the typed, immutable struct built from it.
//
// Guarantees: settings_from() rejects every value the agent could not use (non-https URLs,
// bad names, unknown sources, intervals below one second) with "FILE: KEY: REASON".
// read_token() refuses a token file that group or others may access.
// Does not: read the token as part of the settings (it is a secret; see read_token).
#include <chrono>
#include <expected>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "ip_source.hpp"
#include "splitmail/config/settings.hpp"

namespace splitmail::ddns {

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

// Reads the API token: the file must not be accessible by group or others, and must hold one
// printable token (surrounding whitespace is ignored).
std::expected<std::string, std::string> read_token(const std::filesystem::path& file);

} // namespace splitmail::ddns
