#pragma once
// The relay's content scanners (issue 18): the settings of the rspamd and clamd clients, their
// rows of relay.toml's table (sections `rspamd` and `clamav`, documented in
// docs/configuration.md like every other row) and their checked conversion. Both scanners are
// off by default; what a scanner that cannot answer means for the message is `on_failure`.
#include "splitmail/config/settings.hpp"

#include <chrono>
#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>

namespace splitmail::relay {

struct scanner_settings {
    bool enabled = false;
    // rspamd: "host:port"; clamd: "host:port" or the path of its unix socket ("/...").
    std::string address;
    std::chrono::seconds timeout{20}; // the whole exchange: connect, send, answer
    bool tempfail_on_failure = false; // on_failure = "tempfail" (else "accept")
    std::uint64_t max_size = 0;       // larger messages are not sent to the scanner
};

// The rows of the `rspamd` and `clamav` sections.
std::span<const config::setting_spec> filter_settings_table();
// Checked settings of one scanner section ("rspamd" or "clamav"); errors read
// "FILE: KEY: REASON".
std::expected<scanner_settings, std::string>
scanner_settings_from(const config::values& v, std::string_view name, std::string_view section);

} // namespace splitmail::relay
