// The relay's settings table and its conversion into the typed struct; see relay.hpp.
#include "splitmail/config/relay.hpp"
#include "splitmail/address/address.hpp"

#include "splitmail/auth/settings.hpp"

#include "splitmail/net/connection.hpp"
#include "splitmail/net/tls.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <charconv>
#include <array>
#include <cctype>

namespace splitmail::relay {
namespace {
using config::kind;

constexpr std::array table{
    config::setting_spec{"relay.hostname", kind::string, "",
                         "Fully qualified name of the relay (EHLO, banner, `Received:`). Must "
                         "match the PTR of its public address.",
                         true},
    config::setting_spec{"relay.domains", kind::string_list, "",
                         "Mail domains this relay accepts mail for and forwards to home.", true},
    config::setting_spec{"smtp.listen", kind::string_list, "[\"0.0.0.0:25\", \"[::]:25\"]",
                         "Addresses of the MX listener (`ip:port`, IPv6 in brackets)."},
    config::setting_spec{"smtp.max_message_size", kind::size, "\"25M\"",
                         "Largest message accepted (advertised as SIZE, RFC 1870); bigger ones "
                         "get `552 5.3.4`."},
    config::setting_spec{"smtp.max_header_size", kind::size, "\"1M\"",
                         "Largest header block of a message (everything before the first empty "
                         "line), the only part the relay holds in memory while DATA streams to "
                         "the spool; bigger ones get `552 5.3.4`."},
    config::setting_spec{"smtp.max_recipients", kind::integer, "100",
                         "Recipients per message; more get `452 4.5.3` (RFC 5321 4.5.3.1.8)."},
    config::setting_spec{"smtp.max_connections", kind::integer, "500",
                         "Simultaneous connections in total, counted for the MX port and for "
                         "the submission ports (587 and 465 together) separately; more get "
                         "`421 4.7.0` (on the implicit-TLS port: closed without a byte)."},
    config::setting_spec{"smtp.max_connections_per_ip", kind::integer, "10",
                         "Simultaneous connections from one client address that have not "
                         "authenticated (clients in `relay.trusted_networks` are exempt)."},
    config::setting_spec{"smtp.max_connections_per_network", kind::integer, "50",
                         "The same, for all addresses of one /24 (IPv4) or /64 (IPv6) "
                         "network together."},
    config::setting_spec{"smtp.max_unauthenticated", kind::integer, "0",
                         "Connections that have not authenticated and are not from "
                         "`relay.trusted_networks` may hold at most this many of the "
                         "`smtp.max_connections` slots, so the rest stays free for those "
                         "clients; `0` means 4/5 of `smtp.max_connections`. When it is full, "
                         "a client from a network holding fewer slots takes the place of the "
                         "oldest connection that has not yet said EHLO/HELO from the network "
                         "holding the most."},
    config::setting_spec{"smtp.helo_timeout", kind::duration, "\"30s\"",
                         "A client must have sent a valid EHLO/HELO within this long of "
                         "connecting (TLS handshake on port 465 included), however it trickles "
                         "its bytes; otherwise `421 4.4.2` and close."},
    config::setting_spec{"smtp.idle_timeout", kind::duration, "\"5m\"",
                         "After each reply the client has this long to complete its next "
                         "command line (a deadline, not reset by each byte; RFC 5321 4.5.3.2.7 "
                         "asks for at least 5 minutes); otherwise `421 4.4.2` and close. In "
                         "DATA the deadline grows by one second per `smtp.min_data_rate` bytes "
                         "received."},
    config::setting_spec{"smtp.min_data_rate", kind::integer, "500",
                         "Bytes per second a client must average in DATA after the first "
                         "`smtp.idle_timeout` (Postfix `smtpd_min_data_rate`)."},
    config::setting_spec{"smtp.overload_timeout", kind::duration, "\"10s\"",
                         "While a listener holds 3/4 of `smtp.max_connections` or of "
                         "`smtp.max_unauthenticated`, `smtp.helo_timeout` and `smtp.idle_timeout` "
                         "shrink to this for clients outside `relay.trusted_networks` that have "
                         "not authenticated (Postfix's stress-adaptive timeouts)."},
    config::setting_spec{"smtp.junk_command_limit", kind::integer, "100",
                         "Commands that make no progress (NOOP, RSET, VRFY, HELP, EXPN, a "
                         "repeated HELO/EHLO) a client may send before a message is accepted; "
                         "one more gets `421 4.7.0` and the connection is closed (Postfix "
                         "`smtpd_junk_command_limit`). The count restarts with each accepted "
                         "message. Not applied to `relay.trusted_networks`."},
    config::setting_spec{"smtp.rcpt_error_delay_after", kind::integer, "5",
                         "Refused recipients (`550 5.1.1` unknown user, `554 5.7.1` relay "
                         "denied) in one connection before each further refusal is delayed by "
                         "`smtp.rcpt_error_delay` (a tarpit for address harvesting; a sender "
                         "with a typo or two is never slowed)."},
    config::setting_spec{"smtp.rcpt_error_delay", kind::duration, "\"2s\"",
                         "Delay before each refusal past `smtp.rcpt_error_delay_after`; `0` "
                         "turns the tarpit off."},
    config::setting_spec{"smtp.rcpt_error_limit", kind::integer, "20",
                         "Refused recipients in one connection after which the client gets "
                         "`421 4.7.0` and is disconnected (Postfix `smtpd_hard_error_limit`). "
                         "RSET does not reset the count."},
    config::setting_spec{"smtp.network_rcpt_error_limit", kind::integer, "50",
                         "Refused recipients from one client network (/24 for IPv4, /64 for "
                         "IPv6), over all its connections within "
                         "`smtp.network_rcpt_error_window`, after which every RCPT from that "
                         "network gets `421 4.7.0` until the window ends (temporary: a real "
                         "sender retries). Authenticated and trusted clients are not counted."},
    config::setting_spec{"smtp.network_rcpt_error_window", kind::duration, "\"1h\"",
                         "Window of `smtp.network_rcpt_error_limit`; it starts at the network's "
                         "first refused recipient. At most 16384 networks are tracked."},
    config::setting_spec{"tls.cert", kind::path, "",
                         "PEM certificate chain for STARTTLS. Without it STARTTLS is not "
                         "offered. Re-read on SIGHUP."},
    config::setting_spec{"tls.key", kind::path, "", "PEM private key for `tls.cert`."},
    config::setting_spec{"tls.ciphers", kind::string,
                         "\"ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
                         "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
                         "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305\"",
                         "OpenSSL cipher list offered with TLS 1.2 on ports 25, 587 and 465 "
                         "(TLS 1.3 suites are OpenSSL's, all AEAD). The default is the AEAD "
                         "suites of Mozilla's \"intermediate\" profile; `\"\"` means "
                         "OpenSSL's defaults (with CBC suites)."},
    config::setting_spec{"spool.dir", kind::path, "\"/var/spool/splitmail\"",
                         "Queue directory. Every accepted message is fsync'd here before `250`."},
    config::setting_spec{"spool.message_lifetime", kind::duration, "\"14d\"",
                         "How long a message for home is kept while home is unreachable; after "
                         "that it is returned to the sender (RFC 3464 bounce)."},
    config::setting_spec{"home.lmtp", kind::string, "",
                         "LMTP address of splitmail-home through the tunnel (`ip:port`).", true},
    config::setting_spec{"home.transport", kind::string, "\"plain\"",
                         "`plain` (TCP inside WireGuard) or `mtls` (TLS with client "
                         "certificate; home's certificate pinned)."},
    config::setting_spec{"home.tls_cert", kind::path, "",
                         "Client certificate presented to home (`mtls`)."},
    config::setting_spec{"home.tls_key", kind::path, "", "Key of `home.tls_cert`."},
    config::setting_spec{"home.pin_sha256", kind::string, "",
                         "SHA-256 (hex) of home's certificate; the connection is refused if "
                         "home presents another (`mtls`)."},
    config::setting_spec{"home.lmtp_secret_file", kind::path, "",
                         "File holding the pairing secret presented to home (`XSECRET`) on "
                         "every LMTP connection; the same value as home's "
                         "`lmtp.relay_secret_file` (`splitmail provision` writes both). Empty: "
                         "none sent."},
    config::setting_spec{"home.connections", kind::integer, "4",
                         "Parallel LMTP connections to home."},
    config::setting_spec{"home.recipient_refresh", kind::duration, "\"60s\"",
                         "How often the relay re-reads the recipient list from home (it keeps "
                         "the last copy on disk to validate recipients while home is offline)."},
    config::setting_spec{"retry.initial", kind::duration, "\"1m\"",
                         "First retry delay after a temporary failure; doubles per attempt."},
    config::setting_spec{"retry.max", kind::duration, "\"1h\"",
                         "Longest delay between two attempts (before jitter)."},
    config::setting_spec{"log.level", kind::string, "\"info\"",
                         "`debug`, `info`, `warn` or `error`."},
    config::setting_spec{"relay.trusted_networks", kind::string_list, "[]",
                         "Client networks (CIDR, e.g. the home tunnel peer `10.8.0.2/32`) that "
                         "may send mail to any domain without AUTH. Keep it to the tunnel: "
                         "anything more is an open relay."},
    config::setting_spec{"outbound.resolver", kind::string, "\"\"",
                         "Recursive DNS resolver for MX/A/AAAA lookups (`ip:port`); empty uses "
                         "the name servers of /etc/resolv.conf."},
    config::setting_spec{"outbound.smtp_port", kind::integer, "25",
                         "TCP port of remote MX hosts (25; other values are for tests)."},
    config::setting_spec{"outbound.message_lifetime", kind::duration, "\"5d\"",
                         "How long a message for another domain is retried before it is "
                         "returned to the sender (RFC 5321 4.5.4.1: 4-5 days)."},
    config::setting_spec{"outbound.delay_warning", kind::duration, "\"4h\"",
                         "Send the sender one \"delayed\" notice (RFC 3464) when a message is "
                         "still undelivered after this long; `0` sends none."},
    config::setting_spec{"outbound.retry_initial", kind::duration, "\"5m\"",
                         "First retry delay after a temporary failure at a remote MX; doubles "
                         "per attempt (20% jitter)."},
    config::setting_spec{"outbound.retry_max", kind::duration, "\"1h\"",
                         "Longest delay between two outbound attempts (before jitter)."},
    config::setting_spec{"outbound.connections_per_domain", kind::integer, "5",
                         "Simultaneous SMTP connections to one destination domain."},
    config::setting_spec{"outbound.max_connections", kind::integer, "50",
                         "Simultaneous outbound SMTP connections in total."},
    config::setting_spec{"outbound.starttls", kind::boolean, "true",
                         "Use STARTTLS when a remote MX offers it (opportunistic, certificate "
                         "not verified: DANE/MTA-STS are not implemented yet)."},
    config::setting_spec{"submission.listen", kind::string_list, "[]",
                         "Addresses of the message submission listener with STARTTLS (RFC "
                         "6409, usually port 587). AUTH PLAIN/LOGIN only after STARTTLS; "
                         "credentials are checked by home (XAUTH). Needs `tls.cert`."},
    config::setting_spec{"submissions.listen", kind::string_list, "[]",
                         "Addresses of the implicit-TLS submission listener (RFC 8314, usually "
                         "port 465). Needs `tls.cert`."},
    config::setting_spec{"submission.show_client_ip", kind::boolean, "false",
                         "Name the submitting client's address and HELO in the `Received:` "
                         "header. Off by default so a home or private address does not leak."},
    config::setting_spec{"submission.received_auth_user", kind::boolean, "true",
                         "Name the authenticated user in the `Received:` header of submitted "
                         "mail (`(Authenticated sender: user)`, as Postfix's "
                         "`smtpd_sasl_authenticated_header`), so abuse reports identify the "
                         "account. Turn off to keep the login name private."},
    config::setting_spec{"submission.auth_cache_ttl", kind::duration, "\"7d\"",
                         "How long a credential home accepted may be accepted from the relay's "
                         "in-memory cache (salted SHA-256, never the password) while home is "
                         "unreachable. Home is always asked first."},
    config::setting_spec{"submission.auth_failure_delay", kind::duration, "",
                         "Deprecated: when set, overrides `auth.failure_delay` (the login "
                         "brake's first delay)."},
    config::setting_spec{"submission.auth_max_failures", kind::integer, "",
                         "Deprecated: when set, overrides `auth.max_user_failures`."},
    config::setting_spec{"imap_proxy.listen", kind::string_list, "[]",
                         "Addresses where mail clients reach IMAP through the relay (e.g. "
                         "`[\"0.0.0.0:993\", \"[::]:993\"]`): a TCP pass-through to home over "
                         "the tunnel. TLS ends at home (the relay never sees passwords or "
                         "mail); each connection to home starts with a PROXY protocol v2 header "
                         "naming the real client, so home needs `imaps.proxy_listen` (or "
                         "`imap.proxy_from`) for the relay's tunnel address. Empty: off."},
    config::setting_spec{"imap_proxy.home", kind::string, "\"\"",
                         "Home's PROXY-expecting IMAP listener through the tunnel (`ip:port`, "
                         "home's `imaps.proxy_listen`); empty means the address of `home.lmtp` "
                         "with port 993."},
    config::setting_spec{"imap_proxy.max_connections", kind::integer, "500",
                         "Simultaneous pass-through connections; more are closed at once."},
    config::setting_spec{"imap_proxy.max_connections_per_ip", kind::integer, "20",
                         "Simultaneous pass-through connections from one client address."},
    config::setting_spec{"imap_proxy.connect_timeout", kind::duration, "\"5s\"",
                         "How long to wait for home's TCP handshake (the tunnel is one hop); "
                         "the client is then disconnected."},
    config::setting_spec{"imap_proxy.idle_timeout", kind::duration, "\"31m\"",
                         "A connection on which no byte has moved in either direction for "
                         "this long is closed (RFC 9051 5.4: an IMAP server's inactivity "
                         "timer is at least 30 minutes, so IDLE clients re-issue within 29)."},
    config::setting_spec{"http.listen", kind::string_list, "[]",
                         "Addresses of the relay's port 80 (e.g. `[\"0.0.0.0:80\", \"[::]:80\"]`): "
                         "it answers ACME http-01 validation requests "
                         "(`/.well-known/acme-challenge/<token>`) from `http.challenge_dir` and "
                         "nothing else, so `splitmail cert obtain --http-webroot` works while "
                         "the relay holds the port. Empty: off."},
    config::setting_spec{"http.challenge_dir", kind::path, "\"/var/lib/splitmail/acme-challenge\"",
                         "Where `splitmail cert obtain --http-webroot DIR` writes the http-01 "
                         "key authorizations the relay's port 80 serves (files named by their "
                         "token, readable by the relay's user)."},
    config::setting_spec{"dkim.dir", kind::path, "",
                         "Directory of DKIM keys, `DIR/<domain>/<selector>.key` (made by "
                         "`splitmail dkim keygen`). Empty: no signing. Read at start and on "
                         "SIGHUP."},
    config::setting_spec{"dkim.domains", kind::string_list, "[]",
                         "Domains to sign for; empty means every `relay.domains` entry that has "
                         "keys in `dkim.dir`. Authenticated and trusted-network mail whose "
                         "`From:` domain is one of them is signed at acceptance."},
    config::setting_spec{"spf.check", kind::boolean, "true",
                         "Evaluate SPF (RFC 7208) for inbound mail at the end of DATA: the "
                         "MAIL FROM domain, or postmaster@HELO for the null sender. The result "
                         "is recorded in a `Received-SPF:` field; it rejects nothing on its "
                         "own. DNS goes to `outbound.resolver`."},
    config::setting_spec{"spf.timeout", kind::duration, "\"20s\"",
                         "Longest time one SPF evaluation may take (all its DNS queries); "
                         "then the result is `temperror` (RFC 7208 4.6.4 suggests at least "
                         "20 seconds)."},
    config::setting_spec{"dkim_verify.enabled", kind::boolean, "true",
                         "Verify the DKIM signatures (RFC 6376, RFC 8463) of inbound mail while "
                         "DATA arrives; each result goes into `Authentication-Results:` and the "
                         "log. rsa-sha1 and RSA keys under 1024 bits fail (RFC 8301). Nothing "
                         "is refused because of it. DNS goes to `outbound.resolver`."},
    config::setting_spec{"dkim_verify.max_signatures", kind::integer, "5",
                         "DKIM-Signature fields checked per message, from the top; the rest "
                         "are ignored (and counted in the log), so a message cannot make the "
                         "relay do unbounded work."},
    config::setting_spec{"dkim_verify.timeout", kind::duration, "\"10s\"",
                         "Longest time the DKIM key and DMARC record lookups of one message "
                         "may take together; a signature whose key has not arrived by then is "
                         "`temperror`, and so is DMARC without its record."},
    config::setting_spec{"auth_results.add", kind::boolean, "true",
                         "Add an `Authentication-Results:` field (RFC 8601) with the SPF and "
                         "DKIM results to inbound mail, the relay's `hostname` as authserv-id. "
                         "Incoming fields that claim that authserv-id are removed either way "
                         "(RFC 8601 5), so home can trust the one it finds."},
    config::setting_spec{"iprev.enabled", kind::boolean, "true",
                         "Check the client's reverse DNS for inbound mail (RFC 8601 3: a PTR "
                         "name that resolves back to the client address) and record it as "
                         "`iprev=` in `Authentication-Results:`. Refuses nothing. Its lookups "
                         "share `dkim_verify.timeout`."},
    config::setting_spec{"dmarc.enabled", kind::boolean, "true",
                         "Evaluate DMARC (RFC 7489) for inbound mail from the SPF and DKIM "
                         "results: the `From:` domains' `_dmarc` records (or their "
                         "Organizational Domain's), relaxed/strict alignment, `p`/`sp`/`pct`. "
                         "The result goes into `Authentication-Results:` (`dmarc=`, "
                         "`policy.dmarc=`). DNS lookups share `dkim_verify.timeout`."},
    config::setting_spec{"dmarc.on_reject", kind::string, "\"reject\"",
                         "What a DMARC failure under `p=reject` does: `reject` refuses the "
                         "message at the end of DATA with `550 5.7.1` (nothing is queued), "
                         "`quarantine` or `none` accept it and record `policy.dmarc=` "
                         "accordingly. Home files mail with `policy.dmarc=quarantine` into the "
                         "Junk folder (`maildir.junk_folder` in home.toml)."},
    config::setting_spec{"dmarc.public_suffix_list", kind::path,
                         "\"/usr/share/publicsuffix/public_suffix_list.dat\"",
                         "The Public Suffix List (Debian package `publicsuffix`) used to find "
                         "Organizational Domains (RFC 7489 3.2). If it cannot be read, DMARC is "
                         "off and the relay logs why."},
};

bool is_hex64(const std::string& s) {
    return s.size() == 64 && std::ranges::all_of(s, [](char c) {
               return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
           });
}
} // namespace

std::optional<ip_network> parse_network(std::string_view text) {
    ip_network n;
    std::string addr(text.substr(0, text.find('/')));
    int max = 32;
    if (::inet_pton(AF_INET6, addr.c_str(), n.bytes.data()) == 1) {
        n.v6 = true;
        max = 128;
    } else if (::inet_pton(AF_INET, addr.c_str(), n.bytes.data()) != 1) {
        return std::nullopt;
    }
    n.prefix = max;
    if (auto slash = text.find('/'); slash != std::string_view::npos) {
        auto p = text.substr(slash + 1);
        int v = 0;
        auto [end, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
        if (ec != std::errc() || end != p.data() + p.size() || p.empty() || v < 0 || v > max)
            return std::nullopt;
        n.prefix = v;
    }
    // Keep only the network part so contains() compares prefixes.
    for (int i = 0; i < 16; ++i) {
        int keep = std::clamp(n.prefix - i * 8, 0, 8);
        n.bytes[i] &= static_cast<unsigned char>(0xff << (8 - keep));
    }
    return n;
}

bool ip_network::contains(std::string_view ip_text) const {
    std::string ip(ip_text);
    std::array<unsigned char, 16> b{};
    bool is6 = false;
    if (::inet_pton(AF_INET6, ip.c_str(), b.data()) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (std::equal(mapped, mapped + 12, b.begin())) {
            std::copy(b.begin() + 12, b.end(), b.begin()); // ::ffff:a.b.c.d is IPv4
            std::fill(b.begin() + 4, b.end(), 0);
        } else {
            is6 = true;
        }
    } else if (::inet_pton(AF_INET, ip.c_str(), b.data()) != 1) {
        return false;
    }
    if (is6 != v6) return false;
    for (int i = 0; i < 16; ++i) {
        int keep = std::clamp(prefix - i * 8, 0, 8);
        auto mask = static_cast<unsigned char>(0xff << (8 - keep));
        if ((b[i] & mask) != bytes[i]) return false;
    }
    return true;
}

bool settings::is_trusted(std::string_view ip) const {
    return std::ranges::any_of(trusted_networks,
                               [&](const ip_network& n) { return n.contains(ip); });
}

std::span<const config::setting_spec> settings_table() {
    static const auto all = [] {
        auto rows = auth::with_brake_settings(table);
        auto filter = filter_settings_table();
        rows.insert(rows.end(), filter.begin(), filter.end());
        auto limits = limits_settings_table();
        rows.insert(rows.end(), limits.begin(), limits.end());
        auto reports = dmarc_report_settings_table();
        rows.insert(rows.end(), reports.begin(), reports.end());
        return rows;
    }();
    return all;
}

std::expected<settings, std::string> settings_from(const config::values& v, std::string_view name,
                                                   config::referenced_files files) {
    settings s;
    auto bad = [&](std::string_view key, std::string_view why) {
        return std::unexpected(std::string(name) + ": " + std::string(key) + ": " +
                               std::string(why));
    };
    s.hostname = address::lower_ascii(v.get_string("relay.hostname"));
    if (s.hostname.find('.') == std::string::npos)
        return bad("relay.hostname", "must be a fully qualified name such as mx.example.com");
    for (auto& d : v.get_list("relay.domains")) {
        if (d.empty() || d.find('.') == std::string::npos || d.find('@') != std::string::npos)
            return bad("relay.domains", "\"" + d + "\" is not a domain name");
        s.domains.push_back(address::lower_ascii(d));
    }
    if (s.domains.empty()) return bad("relay.domains", "list at least one domain");
    s.smtp_listen = v.get_list("smtp.listen");
    s.max_message_size = v.get_size("smtp.max_message_size");
    if (s.max_message_size < 1024) return bad("smtp.max_message_size", "must be at least 1k");
    s.max_header_size = v.get_size("smtp.max_header_size");
    if (s.max_header_size < 1024) return bad("smtp.max_header_size", "must be at least 1k");
    auto rc = v.get_int("smtp.max_recipients");
    if (rc < 1 || rc > 10000) return bad("smtp.max_recipients", "must be between 1 and 10000");
    s.max_recipients = static_cast<std::size_t>(rc);
    auto mc = v.get_int("smtp.max_connections");
    auto mpi = v.get_int("smtp.max_connections_per_ip");
    if (mc < 1) return bad("smtp.max_connections", "must be at least 1");
    if (mpi < 1) return bad("smtp.max_connections_per_ip", "must be at least 1");
    s.max_connections = static_cast<std::size_t>(mc);
    s.max_connections_per_ip = static_cast<std::size_t>(mpi);
    auto mpn = v.get_int("smtp.max_connections_per_network");
    if (mpn < 1) return bad("smtp.max_connections_per_network", "must be at least 1");
    s.max_connections_per_network = static_cast<std::size_t>(mpn);
    auto mu = v.get_int("smtp.max_unauthenticated");
    if (mu < 0 || mu > mc)
        return bad("smtp.max_unauthenticated", "must be between 0 and smtp.max_connections");
    s.max_unauthenticated = mu == 0 ? std::max<std::size_t>(1, s.max_connections * 4 / 5)
                                    : static_cast<std::size_t>(mu);
    s.idle_timeout = v.get_duration("smtp.idle_timeout");
    if (s.idle_timeout.count() < 1) return bad("smtp.idle_timeout", "must be at least 1s");
    s.helo_timeout = v.get_duration("smtp.helo_timeout");
    if (s.helo_timeout.count() < 1) return bad("smtp.helo_timeout", "must be at least 1s");
    s.overload_timeout = v.get_duration("smtp.overload_timeout");
    if (s.overload_timeout.count() < 1) return bad("smtp.overload_timeout", "must be at least 1s");
    auto rate = v.get_int("smtp.min_data_rate");
    if (rate < 1) return bad("smtp.min_data_rate", "must be at least 1 (bytes per second)");
    s.min_data_rate = static_cast<std::size_t>(rate);
    auto positive = [&](std::string_view key) { return v.get_int(key) >= 1; };
    for (auto key :
         {"smtp.junk_command_limit", "smtp.rcpt_error_limit", "smtp.network_rcpt_error_limit"})
        if (!positive(key)) return bad(key, "must be at least 1");
    if (v.get_int("smtp.rcpt_error_delay_after") < 0)
        return bad("smtp.rcpt_error_delay_after", "must not be negative");
    s.junk_command_limit = static_cast<std::size_t>(v.get_int("smtp.junk_command_limit"));
    s.rcpt_error_delay_after = static_cast<std::size_t>(v.get_int("smtp.rcpt_error_delay_after"));
    s.rcpt_error_delay = v.get_duration("smtp.rcpt_error_delay");
    if (s.rcpt_error_delay > std::chrono::seconds(60))
        return bad("smtp.rcpt_error_delay", "must not exceed 60s (clients time out)");
    s.rcpt_error_limit = static_cast<std::size_t>(v.get_int("smtp.rcpt_error_limit"));
    s.network_rcpt_error_limit =
        static_cast<std::size_t>(v.get_int("smtp.network_rcpt_error_limit"));
    s.network_rcpt_error_window = v.get_duration("smtp.network_rcpt_error_window");
    if (s.network_rcpt_error_window.count() < 1)
        return bad("smtp.network_rcpt_error_window", "must be at least 1s");
    s.tls_cert = v.get_path("tls.cert");
    s.tls_key = v.get_path("tls.key");
    s.tls_ciphers = v.get_string("tls.ciphers");
    if (auto why = net::check_cipher_list(s.tls_ciphers); !why.empty())
        return bad("tls.ciphers", why);
    if (s.tls_cert.empty() != s.tls_key.empty())
        return bad(s.tls_cert.empty() ? "tls.cert" : "tls.key", "set both tls.cert and tls.key");
    s.spool_dir = v.get_path("spool.dir");
    s.message_lifetime = v.get_duration("spool.message_lifetime");
    s.home_lmtp = v.get_string("home.lmtp");
    s.home_transport = v.get_string("home.transport");
    s.home_lmtp_secret_file = v.get_path("home.lmtp_secret_file");
    if (auto f = s.home_lmtp_secret_file; !f.empty() && files == config::referenced_files::read) {
        auto secret = auth::read_secret_file(f);
        if (!secret) return bad("home.lmtp_secret_file", secret.error());
        s.home_lmtp_secret = std::move(*secret);
    }
    if (s.home_transport != "plain" && s.home_transport != "mtls")
        return bad("home.transport", "must be \"plain\" or \"mtls\"");
    s.home_tls_cert = v.get_path("home.tls_cert");
    s.home_tls_key = v.get_path("home.tls_key");
    s.home_pin_sha256 = address::lower_ascii(v.get_string("home.pin_sha256"));
    std::erase(s.home_pin_sha256, ':');
    if (s.home_transport == "mtls") {
        if (s.home_tls_cert.empty() || s.home_tls_key.empty())
            return bad("home.tls_cert", "mtls needs home.tls_cert and home.tls_key");
        if (!is_hex64(s.home_pin_sha256))
            return bad("home.pin_sha256", "mtls needs the SHA-256 of home's certificate (64 hex "
                                          "digits; `openssl x509 -noout -fingerprint -sha256`)");
    }
    auto hc = v.get_int("home.connections");
    if (hc < 1 || hc > 64) return bad("home.connections", "must be between 1 and 64");
    s.home_connections = static_cast<std::size_t>(hc);
    s.recipient_refresh = v.get_duration("home.recipient_refresh");
    if (s.recipient_refresh.count() < 1)
        return bad("home.recipient_refresh", "must be at least 1s");
    s.retry_initial = v.get_duration("retry.initial");
    s.retry_max = v.get_duration("retry.max");
    if (s.retry_initial.count() < 1) return bad("retry.initial", "must be at least 1s");
    if (s.retry_max < s.retry_initial) return bad("retry.max", "must not be below retry.initial");
    for (const auto& t : v.get_list("relay.trusted_networks")) {
        auto n = parse_network(t);
        if (!n)
            return bad("relay.trusted_networks", "\"" + t + "\" is not an address or CIDR block");
        s.trusted_networks.push_back(*n);
    }
    s.outbound_resolver = v.get_string("outbound.resolver");
    if (!s.outbound_resolver.empty()) {
        try {
            net::split_host_port(s.outbound_resolver);
        } catch (const std::exception& e) {
            return bad("outbound.resolver", e.what());
        }
    }
    auto port = v.get_int("outbound.smtp_port");
    if (port < 1 || port > 65535) return bad("outbound.smtp_port", "must be a TCP port");
    s.outbound_smtp_port = static_cast<std::uint16_t>(port);
    s.outbound_lifetime = v.get_duration("outbound.message_lifetime");
    if (s.outbound_lifetime.count() < 1)
        return bad("outbound.message_lifetime", "must be at least 1s");
    s.outbound_delay_warning = v.get_duration("outbound.delay_warning");
    s.outbound_retry_initial = v.get_duration("outbound.retry_initial");
    s.outbound_retry_max = v.get_duration("outbound.retry_max");
    if (s.outbound_retry_initial.count() < 1)
        return bad("outbound.retry_initial", "must be at least 1s");
    if (s.outbound_retry_max < s.outbound_retry_initial)
        return bad("outbound.retry_max", "must not be below outbound.retry_initial");
    auto cpd = v.get_int("outbound.connections_per_domain");
    if (cpd < 1 || cpd > 100) return bad("outbound.connections_per_domain", "must be 1..100");
    s.outbound_connections_per_domain = static_cast<std::size_t>(cpd);
    auto omc = v.get_int("outbound.max_connections");
    if (omc < 1 || omc > 10000) return bad("outbound.max_connections", "must be 1..10000");
    s.outbound_max_connections = static_cast<std::size_t>(omc);
    s.outbound_starttls = v.get_bool("outbound.starttls");
    s.submission_listen = v.get_list("submission.listen");
    s.submissions_listen = v.get_list("submissions.listen");
    if ((!s.submission_listen.empty() || !s.submissions_listen.empty()) && s.tls_cert.empty())
        return bad("submission.listen", "submission needs tls.cert and tls.key");
    s.submission_show_client_ip = v.get_bool("submission.show_client_ip");
    s.submission_received_auth_user = v.get_bool("submission.received_auth_user");
    s.auth_cache_ttl = v.get_duration("submission.auth_cache_ttl");
    auto brake = auth::brake_policy_from(v, name);
    if (!brake) return std::unexpected(brake.error());
    s.login_brake = *brake;
    if (v.has("submission.auth_failure_delay")) { // the settings before the shared brake
        s.login_brake.base_delay = v.get_duration("submission.auth_failure_delay");
        s.login_brake.max_delay = std::max(s.login_brake.max_delay, s.login_brake.base_delay);
    }
    if (v.has("submission.auth_max_failures")) {
        auto n = v.get_int("submission.auth_max_failures");
        if (n < 1) return bad("submission.auth_max_failures", "must be at least 1");
        s.login_brake.max_user_failures = static_cast<std::size_t>(n);
    }
    s.spf_check = v.get_bool("spf.check");
    s.spf_timeout = v.get_duration("spf.timeout");
    if (s.spf_timeout.count() < 1) return bad("spf.timeout", "must be at least 1s");
    for (auto [section, out] : {std::pair{"rspamd", &s.rspamd}, std::pair{"clamav", &s.clamav}}) {
        auto sc = scanner_settings_from(v, name, section);
        if (!sc) return std::unexpected(sc.error());
        *out = std::move(*sc);
    }
    auto grey = greylist_settings_from(v, name, s.spool_dir);
    if (!grey) return std::unexpected(grey.error());
    s.greylist = std::move(*grey);
    auto lim = rate_limit_settings_from(v, name);
    if (!lim) return std::unexpected(lim.error());
    s.limits = *lim;
    auto dnsbl = dnsbl_settings_from(v, name);
    if (!dnsbl) return std::unexpected(dnsbl.error());
    s.dnsbl = std::move(*dnsbl);
    s.dkim_verify = v.get_bool("dkim_verify.enabled");
    auto maxsig = v.get_int("dkim_verify.max_signatures");
    if (maxsig < 1 || maxsig > 50)
        return bad("dkim_verify.max_signatures", "must be between 1 and 50");
    s.dkim_verify_max_signatures = static_cast<std::size_t>(maxsig);
    s.dkim_verify_timeout = v.get_duration("dkim_verify.timeout");
    if (s.dkim_verify_timeout.count() < 1) return bad("dkim_verify.timeout", "must be at least 1s");
    s.auth_results_add = v.get_bool("auth_results.add");
    s.iprev = v.get_bool("iprev.enabled");
    s.dmarc = v.get_bool("dmarc.enabled");
    s.dmarc_on_reject = v.get_string("dmarc.on_reject");
    if (s.dmarc_on_reject != "reject" && s.dmarc_on_reject != "quarantine" &&
        s.dmarc_on_reject != "none")
        return bad("dmarc.on_reject", "must be reject, quarantine or none");
    s.dmarc_psl = v.get_path("dmarc.public_suffix_list");
    auto reports = dmarc_report_settings_from(v, name, s.hostname, s.domains, s.spool_dir);
    if (!reports) return std::unexpected(reports.error());
    s.dmarc_reports = std::move(*reports);
    if (s.dmarc_reports.enabled && !s.dmarc)
        return bad("dmarc_reports.enabled", "needs dmarc.enabled (reports are about DMARC checks)");
    s.http_listen = v.get_list("http.listen");
    s.http_challenge_dir = v.get_path("http.challenge_dir");
    if (!s.http_listen.empty() && s.http_challenge_dir.empty())
        return bad("http.challenge_dir", "must be set when http.listen is");
    s.imap_proxy_listen = v.get_list("imap_proxy.listen");
    s.imap_proxy_home = v.get_string("imap_proxy.home");
    if (s.imap_proxy_home.empty() && !s.home_lmtp.empty()) {
        try {
            auto hp = net::split_host_port(s.home_lmtp);
            s.imap_proxy_home =
                (hp.first.find(':') != std::string::npos ? "[" + hp.first + "]" : hp.first) +
                ":993";
        } catch (const std::exception&) {
            // home.lmtp names the problem when it is used; here there is nothing to derive
        }
    }
    if (!s.imap_proxy_listen.empty()) {
        try {
            net::split_host_port(s.imap_proxy_home);
        } catch (const std::exception& e) {
            return bad("imap_proxy.home",
                       std::string(e.what()) + " (set imap_proxy.home to home's ip:port)");
        }
    }
    auto ipc = v.get_int("imap_proxy.max_connections");
    auto ipi = v.get_int("imap_proxy.max_connections_per_ip");
    if (ipc < 1) return bad("imap_proxy.max_connections", "must be at least 1");
    if (ipi < 1) return bad("imap_proxy.max_connections_per_ip", "must be at least 1");
    s.imap_proxy_max_connections = static_cast<std::size_t>(ipc);
    s.imap_proxy_max_connections_per_ip = static_cast<std::size_t>(ipi);
    s.imap_proxy_connect_timeout = v.get_duration("imap_proxy.connect_timeout");
    if (s.imap_proxy_connect_timeout.count() < 1)
        return bad("imap_proxy.connect_timeout", "must be at least 1s");
    s.imap_proxy_idle_timeout = v.get_duration("imap_proxy.idle_timeout");
    if (s.imap_proxy_idle_timeout.count() < 1)
        return bad("imap_proxy.idle_timeout", "must be at least 1s");
    s.dkim_dir = v.get_path("dkim.dir");
    for (const auto& d : v.get_list("dkim.domains"))
        s.dkim_domains.push_back(address::lower_ascii(d));
    s.log_level = v.get_string("log.level");
    if (s.log_level != "debug" && s.log_level != "info" && s.log_level != "warn" &&
        s.log_level != "error")
        return bad("log.level", "must be debug, info, warn or error");
    return s;
}

std::expected<settings, std::string> load_settings(const std::filesystem::path& file,
                                                   config::referenced_files files) {
    auto v = config::load(file, settings_table());
    if (!v) return std::unexpected(v.error());
    return settings_from(*v, file.string(), files);
}

} // namespace splitmail::relay
