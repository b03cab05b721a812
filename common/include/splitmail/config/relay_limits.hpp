#pragma once
// The relay's greylisting, rate limits and DNS lists (issue 18): their settings, their rows of
// relay.toml's table (sections `greylist` and `limits`, documented in docs/configuration.md
// like every other row) and their checked conversion. Greylisting is off by default (Postfix
// users expect it off until they turn it on); the per-user submission limits are on, the
// per-client inbound limits off.
#include "splitmail/config/settings.hpp"

#include <chrono>
#include <cstddef>
#include <expected>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay {

struct greylist_settings {
    bool enabled = false;
    std::chrono::seconds delay{300};          // a retry is accepted this long after the first try
    std::chrono::seconds max_age{35 * 86400}; // a passed triplet / network is kept this long
    std::chrono::seconds retry_window{2 * 86400}; // an unpassed triplet is forgotten after this
    std::size_t auto_allow = 5;                   // passed deliveries before a network skips; 0 off
    std::size_t max_entries = 100000;
    std::filesystem::path state_file; // resolved: "" in the file = <spool.dir>/greylist.db
    // Sender domains (lower case, no trailing dot) whose verified mail skips greylisting.
    std::vector<std::string> skip_verified_senders;
};

struct rate_limit_settings {
    // Inbound (port 25, neither authenticated nor trusted), per client IP address; 0 = off.
    std::size_t client_messages_per_hour = 0;
    std::size_t client_recipients_per_hour = 0;
    // Submission, per authenticated user; 0 = off.
    std::size_t user_messages_per_hour = 200;
    std::size_t user_recipients_per_hour = 500;
    std::size_t max_tracked = 10000; // keys (IPs, users) remembered per limiter
};

// DNS block and allow lists (splitmail/net/dnsbl.hpp), checked at connect on port 25.
struct dnsbl_settings {
    bool enabled = false;
    std::vector<std::string> sites;          // postscreen_dnsbl_sites syntax, checked
    int threshold = 1;                       // total weight that refuses the client
    int allow_threshold = 0;                 // total weight at or below which it skips
                                             // greylisting (0: off; negative: on)
    std::chrono::milliseconds timeout{5000}; // for all lists together
};

// The rows of the `greylist`, `limits` and `dnsbl` sections.
std::span<const config::setting_spec> limits_settings_table();
// Checked settings; errors read "FILE: KEY: REASON". `spool_dir` resolves the default
// greylist.state_file.
std::expected<greylist_settings, std::string>
greylist_settings_from(const config::values& v, std::string_view name,
                       const std::filesystem::path& spool_dir);
std::expected<rate_limit_settings, std::string> rate_limit_settings_from(const config::values& v,
                                                                         std::string_view name);
std::expected<dnsbl_settings, std::string> dnsbl_settings_from(const config::values& v,
                                                               std::string_view name);

} // namespace splitmail::relay
