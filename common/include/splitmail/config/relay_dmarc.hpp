#pragma once
// The relay's DMARC aggregate reports (issue 17, RFC 7489 7.2): their settings, their rows of
// relay.toml's table (section `dmarc_reports`, documented in docs/configuration.md like every
// other row) and their checked conversion. Off by default: reports tell other domains which
// addresses wrote to us (see docs/operations.md, privacy).
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

struct dmarc_report_settings {
    bool enabled = false;
    std::string from;                     // resolved: "" = dmarc-noreply@<first domain>
    std::string org_name;                 // resolved: "" = relay.hostname
    std::chrono::seconds interval{86400}; // report period (aligned to the epoch)
    std::chrono::seconds send_delay{300}; // after a period ends, before its reports go
    std::size_t max_records = 100000;     // observations kept per period
    std::filesystem::path dir;            // resolved: "" = <spool.dir>/dmarc
    std::chrono::seconds keep{7 * 86400}; // sent periods' files are kept this long
};

std::span<const config::setting_spec> dmarc_report_settings_table();
// Checked settings; errors read "FILE: KEY: REASON". `hostname`, `domains` and `spool_dir`
// resolve the defaults.
std::expected<dmarc_report_settings, std::string>
dmarc_report_settings_from(const config::values& v, std::string_view name,
                           std::string_view hostname, const std::vector<std::string>& domains,
                           const std::filesystem::path& spool_dir);

} // namespace splitmail::relay
