// The relay's scanner settings (rspamd, clamav); see relay_filter.hpp.
#include "splitmail/config/relay_filter.hpp"

#include "splitmail/net/connection.hpp"

#include <array>

namespace splitmail::relay {
namespace {
using config::kind;

constexpr std::array table{
    config::setting_spec{"rspamd.enabled", kind::boolean, "false",
                         "Scan every message (inbound and submitted) with rspamd at the end of "
                         "DATA, before the reply: its `reject` action gets `550 5.7.1`, `soft "
                         "reject` gets `451 4.7.1`, `greylist` gets `451 4.7.1` until the "
                         "recipients' greylist triplets have waited `greylist.delay` (then the "
                         "retry is accepted), `add header` / `rewrite subject` add `X-Spam: Yes` "
                         "(home then files the "
                         "message into Junk: `maildir.junk_folder` in home.toml); every "
                         "scanned message gets `X-Spam-Status` and `X-Spamd-Result` with the "
                         "score."},
    config::setting_spec{"rspamd.address", kind::string, "\"127.0.0.1:11333\"",
                         "rspamd's normal worker (`host:port`), spoken to over its HTTP "
                         "protocol (`POST /checkv2`)."},
    config::setting_spec{"rspamd.timeout", kind::duration, "\"20s\"",
                         "Longest time for one scan (connect, send the message, read the "
                         "answer); then `rspamd.on_failure` decides."},
    config::setting_spec{"rspamd.on_failure", kind::string, "\"accept\"",
                         "What happens when rspamd cannot be reached, times out or answers "
                         "nonsense: `accept` (the message goes on with `X-Spam-Status: "
                         "unchecked` and a warning in the log) or `tempfail` (`451 4.7.1`, the "
                         "sender retries later). Mail is never lost either way."},
    config::setting_spec{"rspamd.max_size", kind::size, "\"25M\"",
                         "Messages larger than this are not sent to rspamd; they are accepted "
                         "with `X-Spam-Status: unchecked`."},
    config::setting_spec{"clamav.enabled", kind::boolean, "false",
                         "Scan every message with clamd (`zINSTREAM`) at the end of DATA, before "
                         "the reply: a virus gets `554 5.7.1 virus NAME`."},
    config::setting_spec{"clamav.address", kind::string, "\"/run/clamav/clamd.ctl\"",
                         "clamd's socket: a unix socket path (starting with `/`, clamd's "
                         "`LocalSocket`) or `host:port` (its `TCPSocket`)."},
    config::setting_spec{"clamav.timeout", kind::duration, "\"30s\"",
                         "Longest time for one scan; then `clamav.on_failure` decides."},
    config::setting_spec{"clamav.on_failure", kind::string, "\"accept\"",
                         "What happens when clamd cannot be reached, times out or reports an "
                         "error: `accept` (the message goes on with `X-Virus-Status: unchecked` "
                         "and a warning in the log) or `tempfail` (`451 4.7.1`)."},
    config::setting_spec{"clamav.max_size", kind::size, "\"25M\"",
                         "Messages larger than this are not sent to clamd (keep it at or below "
                         "clamd's `StreamMaxLength`, whose default is 25M); they are accepted "
                         "with `X-Virus-Status: unchecked`."},
};

} // namespace

std::span<const config::setting_spec> filter_settings_table() { return table; }

std::expected<scanner_settings, std::string>
scanner_settings_from(const config::values& v, std::string_view name, std::string_view section) {
    const std::string p = std::string(section) + ".";
    auto bad = [&](std::string_view key, std::string_view why) {
        return std::unexpected(std::string(name) + ": " + p + std::string(key) + ": " +
                               std::string(why) + v.where(p + std::string(key)));
    };
    scanner_settings s;
    s.enabled = v.get_bool(p + "enabled");
    s.address = v.get_string(p + "address");
    const bool unix_ok = section == "clamav";
    if (unix_ok && s.address.starts_with('/')) {
        if (s.address.size() > 107) return bad("address", "unix socket path is too long");
    } else {
        try {
            net::split_host_port(s.address);
        } catch (const std::exception& e) {
            return bad("address", std::string(e.what()) +
                                      (unix_ok ? " (use host:port or an absolute socket path)"
                                               : " (use host:port)"));
        }
    }
    s.timeout = v.get_duration(p + "timeout");
    if (s.timeout.count() < 1 || s.timeout.count() > 600)
        return bad("timeout", "must be between 1s and 10m");
    auto f = v.get_string(p + "on_failure");
    if (f != "accept" && f != "tempfail")
        return bad("on_failure", "must be \"accept\" or \"tempfail\", not \"" + f + "\"");
    s.tempfail_on_failure = f == "tempfail";
    s.max_size = v.get_size(p + "max_size");
    if (s.max_size < 1024) return bad("max_size", "must be at least 1k");
    // clamd's length prefix is 32 bits; keep well inside it.
    if (s.max_size > (std::uint64_t{1} << 31)) return bad("max_size", "must not exceed 2G");
    return s;
}

} // namespace splitmail::relay
