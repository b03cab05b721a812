// The relay's DMARC report settings; see relay_dmarc.hpp.
#include "splitmail/config/relay_dmarc.hpp"

#include "splitmail/address/address.hpp"

#include <array>

namespace splitmail::relay {
namespace {
using config::kind;

constexpr std::array table{
    config::setting_spec{"dmarc_reports.enabled", kind::boolean, "false",
                         "Send DMARC aggregate reports (RFC 7489 7.2): for inbound mail whose "
                         "`From:` domain publishes a DMARC record with `rua=mailto:...`, the "
                         "relay records the source address, identifiers and SPF/DKIM/DMARC "
                         "results of each message, and once per `dmarc_reports.interval` sends "
                         "each such domain a gzip'd XML report, DKIM-signed, through the "
                         "outbound queue. Needs `dmarc.enabled`. Privacy: see "
                         "docs/operations.md."},
    config::setting_spec{"dmarc_reports.from", kind::string, "\"\"",
                         "The reports' `From:` and envelope sender; empty: "
                         "`dmarc-noreply@` the first of `relay.domains` (sign it: its domain "
                         "needs DKIM keys in `dkim.dir`)."},
    config::setting_spec{"dmarc_reports.org_name", kind::string, "\"\"",
                         "`org_name` in the reports' metadata; empty: `relay.hostname`."},
    config::setting_spec{"dmarc_reports.interval", kind::duration, "\"1d\"",
                         "The report period: periods are aligned to multiples of it since the "
                         "epoch (`1d`: UTC days, what receivers expect; RFC 7489 asks for at "
                         "least daily). Shorter values (down to 10s) are for tests."},
    config::setting_spec{"dmarc_reports.send_delay", kind::duration, "\"5m\"",
                         "How long after a period ends its reports are built and queued "
                         "(late messages of the period are still recorded until then). At "
                         "start-up, every ended period whose reports were not sent yet is "
                         "sent."},
    config::setting_spec{"dmarc_reports.max_records", kind::integer, "100000",
                         "Most messages recorded per period; past it, the rest of the period "
                         "is not recorded (one warning in the log)."},
    config::setting_spec{"dmarc_reports.dir", kind::path, "\"\"",
                         "Where the records wait for their report (one append-only file per "
                         "period, and a marker once it was sent); empty: `dmarc` in "
                         "`spool.dir`."},
    config::setting_spec{"dmarc_reports.keep", kind::duration, "\"7d\"",
                         "How long the records of a sent period are kept (for `splitmail dmarc "
                         "recorded`) before they are deleted."},
};
} // namespace

std::span<const config::setting_spec> dmarc_report_settings_table() { return table; }

std::expected<dmarc_report_settings, std::string>
dmarc_report_settings_from(const config::values& v, std::string_view name,
                           std::string_view hostname, const std::vector<std::string>& domains,
                           const std::filesystem::path& spool_dir) {
    auto bad = [&](std::string_view key, std::string_view why) {
        return std::unexpected(std::string(name) + ": " + std::string(key) + ": " +
                               std::string(why) + v.where(key));
    };
    dmarc_report_settings r;
    r.enabled = v.get_bool("dmarc_reports.enabled");
    r.from = v.get_string("dmarc_reports.from");
    if (r.from.empty() && !domains.empty()) r.from = "dmarc-noreply@" + domains.front();
    if (r.enabled) {
        const auto at = r.from.rfind('@');
        if (at == std::string::npos || at == 0 || !address::valid_domain(r.from.substr(at + 1)) ||
            r.from.find_first_of(" \t\r\n<>\",") != std::string::npos)
            return bad("dmarc_reports.from", "must be an address such as "
                                             "dmarc-noreply@example.com");
    }
    r.org_name = v.get_string("dmarc_reports.org_name");
    if (r.org_name.empty()) r.org_name = std::string(hostname);
    r.interval = v.get_duration("dmarc_reports.interval");
    if (r.interval < std::chrono::seconds(10) || r.interval > std::chrono::days(7))
        return bad("dmarc_reports.interval", "must be between 10s and 7d");
    r.send_delay = v.get_duration("dmarc_reports.send_delay");
    if (r.send_delay.count() < 0 || r.send_delay > std::chrono::hours(12))
        return bad("dmarc_reports.send_delay", "must be between 0s and 12h");
    auto mr = v.get_int("dmarc_reports.max_records");
    if (mr < 1 || mr > 10000000)
        return bad("dmarc_reports.max_records", "must be between 1 and 10000000");
    r.max_records = static_cast<std::size_t>(mr);
    r.dir = v.get_path("dmarc_reports.dir");
    if (r.dir.empty()) r.dir = spool_dir / "dmarc";
    if (!r.dir.is_absolute() && !spool_dir.empty()) r.dir = spool_dir / r.dir;
    r.keep = v.get_duration("dmarc_reports.keep");
    if (r.keep < std::chrono::hours(1) || r.keep > std::chrono::days(366))
        return bad("dmarc_reports.keep", "must be between 1h and 366d");
    return r;
}

} // namespace splitmail::relay
