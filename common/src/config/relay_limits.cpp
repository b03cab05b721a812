// The relay's greylisting and rate-limit settings; see relay_limits.hpp.
#include "splitmail/config/relay_limits.hpp"

#include "splitmail/address/address.hpp"
#include "splitmail/net/dnsbl.hpp"

#include <array>
#include <cctype>

namespace splitmail::relay {
namespace {
using config::kind;

constexpr std::array table{
    config::setting_spec{"greylist.enabled", kind::boolean, "false",
                         "Greylist inbound mail (port 25, neither authenticated nor from "
                         "`relay.trusted_networks`) at RCPT time, like postgrey: the first "
                         "attempt of a (client network, sender, recipient) triplet gets `451 "
                         "4.7.1 Greylisted, try again in N seconds` for that recipient; a "
                         "retry after `greylist.delay` is accepted and the triplet is "
                         "remembered. The client network is the /24 (IPv4) or /64 (IPv6). "
                         "rspamd's `greylist` action uses the same store whether or not this is "
                         "on (see docs/operations.md)."},
    config::setting_spec{"greylist.delay", kind::duration, "\"5m\"",
                         "How long after the first attempt a retry of the same triplet is "
                         "accepted; earlier retries get `451 4.7.1` again."},
    config::setting_spec{"greylist.max_age", kind::duration, "\"35d\"",
                         "How long a passed triplet (and a network's count of passed "
                         "deliveries) is remembered after its last use; each accepted message "
                         "refreshes it."},
    config::setting_spec{"greylist.retry_window", kind::duration, "\"2d\"",
                         "An unpassed triplet whose sender has not come back within this time "
                         "after the first attempt is forgotten; the next attempt starts over."},
    config::setting_spec{"greylist.auto_allow", kind::integer, "5",
                         "After this many messages accepted through a passed triplet from one "
                         "client network, that network is no longer greylisted (postgrey's "
                         "`--auto-whitelist-clients`) until it is unused for "
                         "`greylist.max_age`; `0` turns this off."},
    config::setting_spec{"greylist.max_entries", kind::integer, "100000",
                         "Most triplets and networks remembered (about 100 bytes of memory and 40 "
                         "bytes of state file each). When full, expired entries go first, then "
                         "the oldest triplets that have not passed, then the least recently "
                         "used ones."},
    config::setting_spec{"greylist.state_file", kind::path, "\"\"",
                         "Where the greylisting state is kept across restarts (written within a "
                         "minute of a change and at stop, by write-temp, fsync, rename); empty: "
                         "`greylist.db` in `spool.dir`. An unreadable file is logged, moved "
                         "aside to `NAME.corrupt`, and the relay starts with an empty list."},
    config::setting_spec{"greylist.skip_verified_senders", kind::string_list, "[]",
                         "Sender domains whose mail is not greylisted when it proves where it "
                         "comes from: the envelope sender is of one of these domains (or a "
                         "subdomain) and its SPF passes, or a DKIM signature of that domain "
                         "verifies. Large providers retry from other addresses, so greylisting "
                         "delays their mail for long. Proof is only known at the end of DATA: "
                         "such a recipient is accepted at RCPT and the message gets `451 4.7.1 "
                         "Greylisted` at the end of DATA when the proof fails. Example: "
                         "`[\"gmail.com\", \"googlemail.com\", \"outlook.com\", "
                         "\"icloud.com\"]`."},
    config::setting_spec{"limits.client_messages_per_hour", kind::integer, "0",
                         "Inbound (port 25) messages per client IP address (IPv6: per /64) in "
                         "any hour (a sliding window); past it, `MAIL` gets `451 4.7.1`. `0`: "
                         "no limit. Clients in `relay.trusted_networks` are never limited."},
    config::setting_spec{"limits.client_recipients_per_hour", kind::integer, "0",
                         "Inbound recipients accepted per client IP address in any hour; past "
                         "it, `RCPT` gets `451 4.7.1`. `0`: no limit."},
    config::setting_spec{"limits.user_messages_per_hour", kind::integer, "200",
                         "Messages an authenticated user may submit in any hour (a stolen "
                         "password sends little spam); past it, `MAIL` gets `451 4.7.1` and "
                         "the log says so. `0`: no limit."},
    config::setting_spec{"limits.user_recipients_per_hour", kind::integer, "500",
                         "Recipients an authenticated user may submit to in any hour; past it, "
                         "`RCPT` gets `451 4.7.1`. `0`: no limit."},
    config::setting_spec{"limits.max_tracked", kind::integer, "10000",
                         "Client addresses (and, separately, users) whose counts are kept; when "
                         "full, the least recently seen is forgotten."},
    config::setting_spec{"dnsbl.enabled", kind::boolean, "false",
                         "Look inbound clients (port 25, not `relay.trusted_networks`) up in the "
                         "DNS lists of `dnsbl.sites` when they connect; a client whose weights add "
                         "up to `dnsbl.threshold` gets `554 5.7.1 Service unavailable; client "
                         "[IP] blocked using LIST` for every recipient. Needs a resolver of your "
                         "own (`outbound.resolver`, or a local unbound in /etc/resolv.conf): most "
                         "lists refuse queries that come through public resolvers (8.8.8.8, "
                         "1.1.1.1, 9.9.9.9...), and the relay logs that they did."},
    config::setting_spec{
        "dnsbl.sites", kind::string_list, "[]",
        "The lists, in Postfix's `postscreen_dnsbl_sites` syntax: "
        "`zone[=pattern][*weight]` or `zone[&mask][*weight]`; a pattern has four "
        "octets, each `N`, `[a..b]` or `[a;b]`; the weight defaults to 1, negative "
        "for allow lists. Example: `[\"zen.spamhaus.org=127.0.0.[2..11]*3\", "
        "\"bl.spamcop.net*2\", \"list.dnswl.org=127.0.[0..255].[1..3]*-2\"]`."},
    config::setting_spec{"dnsbl.threshold", kind::integer, "1",
                         "Total weight of the lists that list a client at which it is refused "
                         "(Postfix's `postscreen_dnsbl_threshold`)."},
    config::setting_spec{"dnsbl.allow_threshold", kind::integer, "0",
                         "When negative: a client whose total weight is at or below it (allow "
                         "lists) is not greylisted. `0`: off."},
    config::setting_spec{"dnsbl.timeout", kind::duration, "\"5s\"",
                         "How long the lists get, all together; a list that has not answered by "
                         "then counts as not listing the client (a warning names it)."},
};

} // namespace

std::span<const config::setting_spec> limits_settings_table() { return table; }

std::expected<dnsbl_settings, std::string> dnsbl_settings_from(const config::values& v,
                                                               std::string_view name) {
    auto bad = [&](std::string_view key, std::string_view why) {
        return std::unexpected(std::string(name) + ": " + std::string(key) + ": " +
                               std::string(why) + v.where(key));
    };
    dnsbl_settings d;
    d.enabled = v.get_bool("dnsbl.enabled");
    for (const auto& site : v.get_list("dnsbl.sites")) {
        auto p = net::parse_site(site);
        if (!p) return bad("dnsbl.sites", "\"" + site + "\": " + p.error());
        d.sites.push_back(site);
    }
    if (d.sites.size() > 20) return bad("dnsbl.sites", "at most 20 lists");
    if (d.enabled && d.sites.empty())
        return bad("dnsbl.sites", "dnsbl.enabled needs at least one list");
    auto t = v.get_int("dnsbl.threshold");
    if (t < 1 || t > 1000) return bad("dnsbl.threshold", "must be between 1 and 1000");
    d.threshold = static_cast<int>(t);
    auto a = v.get_int("dnsbl.allow_threshold");
    if (a < -1000 || a > 0) return bad("dnsbl.allow_threshold", "must be between -1000 and 0");
    d.allow_threshold = static_cast<int>(a);
    d.timeout = v.get_duration("dnsbl.timeout");
    if (d.timeout < std::chrono::seconds(1) || d.timeout > std::chrono::minutes(1))
        return bad("dnsbl.timeout", "must be between 1s and 1m");
    return d;
}

std::expected<greylist_settings, std::string>
greylist_settings_from(const config::values& v, std::string_view name,
                       const std::filesystem::path& spool_dir) {
    auto bad = [&](std::string_view key, std::string_view why) {
        return std::unexpected(std::string(name) + ": " + std::string(key) + ": " +
                               std::string(why) + v.where(key));
    };
    greylist_settings g;
    g.enabled = v.get_bool("greylist.enabled");
    g.delay = v.get_duration("greylist.delay");
    // RFC 5321 4.5.4.1: a sender retries after at least 30 minutes unless told otherwise, and
    // gives up after 4-5 days: a delay beyond a day would refuse real mail for good.
    if (g.delay.count() < 1 || g.delay > std::chrono::hours(24))
        return bad("greylist.delay", "must be between 1s and 1d");
    g.retry_window = v.get_duration("greylist.retry_window");
    if (g.retry_window <= g.delay)
        return bad("greylist.retry_window", "must be longer than greylist.delay");
    g.max_age = v.get_duration("greylist.max_age");
    if (g.max_age < std::chrono::hours(1) || g.max_age > std::chrono::days(366))
        return bad("greylist.max_age", "must be between 1h and 366d");
    auto aa = v.get_int("greylist.auto_allow");
    if (aa < 0 || aa > 1000000) return bad("greylist.auto_allow", "must be between 0 and 1000000");
    g.auto_allow = static_cast<std::size_t>(aa);
    auto me = v.get_int("greylist.max_entries");
    if (me < 100 || me > 10000000)
        return bad("greylist.max_entries", "must be between 100 and 10000000");
    g.max_entries = static_cast<std::size_t>(me);
    for (auto d : v.get_list("greylist.skip_verified_senders")) {
        while (!d.empty() && d.back() == '.') d.pop_back();
        for (auto& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        if (!address::valid_domain(d) || d.find('.') == std::string::npos)
            return bad("greylist.skip_verified_senders",
                       "\"" + d + "\" is not a domain name (e.g. \"gmail.com\")");
        g.skip_verified_senders.push_back(std::move(d));
    }
    if (g.skip_verified_senders.size() > 1000)
        return bad("greylist.skip_verified_senders", "at most 1000 domains");
    g.state_file = v.get_path("greylist.state_file");
    if (g.state_file.empty()) g.state_file = spool_dir / "greylist.db";
    if (!g.state_file.is_absolute() && !spool_dir.empty()) g.state_file = spool_dir / g.state_file;
    return g;
}

std::expected<rate_limit_settings, std::string> rate_limit_settings_from(const config::values& v,
                                                                         std::string_view name) {
    rate_limit_settings r;
    auto count = [&](std::string_view key, std::size_t& out,
                     std::int64_t min) -> std::expected<void, std::string> {
        auto n = v.get_int(key);
        if (n < min || n > 100000000)
            return std::unexpected(std::string(name) + ": " + std::string(key) +
                                   ": must be between " + std::to_string(min) + " and 100000000" +
                                   v.where(key));
        out = static_cast<std::size_t>(n);
        return {};
    };
    for (auto [key, out] :
         {std::pair{"limits.client_messages_per_hour", &r.client_messages_per_hour},
          std::pair{"limits.client_recipients_per_hour", &r.client_recipients_per_hour},
          std::pair{"limits.user_messages_per_hour", &r.user_messages_per_hour},
          std::pair{"limits.user_recipients_per_hour", &r.user_recipients_per_hour}})
        if (auto ok = count(key, *out, 0); !ok) return std::unexpected(ok.error());
    if (auto ok = count("limits.max_tracked", r.max_tracked, 100); !ok)
        return std::unexpected(ok.error());
    return r;
}

} // namespace splitmail::relay
