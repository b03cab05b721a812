#pragma once
// splitmail-relay settings: the table (key, type, default, doc) that relay.toml is checked
// against, and the typed immutable struct the rest of the relay reads. docs/configuration.md
// is rendered from settings_table() by `splitmail-relay --print-config-doc`. It lives in common/
// because `splitmail check`, `dns` and `queue` read relay.toml through the same table and
// defaults (issue 13: a second reader had its own idea of the default spool).
#include "splitmail/auth/brake.hpp"
#include "splitmail/config/relay_dmarc.hpp"
#include "splitmail/config/relay_filter.hpp"
#include "splitmail/config/relay_limits.hpp"
#include "splitmail/config/settings.hpp"

#include <array>
#include <chrono>
#include <optional>
#include <expected>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay {

// One entry of relay.trusted_networks: an address block in CIDR notation.
struct ip_network {
    bool v6 = false;
    std::array<unsigned char, 16> bytes{}; // network address (first 4 used for IPv4)
    int prefix = 0;
    // "192.0.2.7", "2001:db8::1", "::ffff:192.0.2.7" (IPv4-mapped counts as IPv4).
    bool contains(std::string_view ip) const;
};
// "10.0.0.0/8", "127.0.0.1" (= /32), "::1" (= /128), "fd00::/8"; nullopt if malformed.
std::optional<ip_network> parse_network(std::string_view text);

struct settings {
    std::string hostname;                 // relay.hostname: EHLO name, Received: by
    std::vector<std::string> domains;     // relay.domains: mail domains we accept for (lower-case)
    std::vector<std::string> smtp_listen; // smtp.listen
    std::uint64_t max_message_size = 0;
    std::uint64_t max_header_size = 1u << 20; // smtp.max_header_size: held in memory during DATA
    std::size_t max_recipients = 100;
    // Admission per listener group (port 25; ports 587+465), see net/admission.hpp.
    std::size_t max_connections = 500;
    std::size_t max_connections_per_ip = 10;
    std::size_t max_connections_per_network = 50; // per /24 (IPv4) or /64 (IPv6)
    std::size_t max_unauthenticated = 400;        // resolved: 0 in the file = 4/5 of the total
    // Deadlines (smtp_in/driver.cpp): connect -> EHLO/HELO; reply -> next command line; DATA
    // grows by min_data_rate; under overload both shrink to overload_timeout.
    std::chrono::seconds helo_timeout{30};
    std::chrono::seconds idle_timeout{300};
    std::chrono::seconds overload_timeout{10};
    std::size_t min_data_rate = 500; // bytes per second
    // Issue 11 items 7, 8: chatty and harvesting clients (smtp_in/session.hpp).
    std::size_t junk_command_limit = 100;
    std::size_t rcpt_error_delay_after = 5;
    std::chrono::seconds rcpt_error_delay{2};
    std::size_t rcpt_error_limit = 20;
    std::size_t network_rcpt_error_limit = 50;
    std::chrono::seconds network_rcpt_error_window{3600};
    std::filesystem::path tls_cert, tls_key; // empty: no STARTTLS
    std::string tls_ciphers;                 // TLS 1.2 cipher list ("" = OpenSSL defaults)
    std::filesystem::path spool_dir;
    std::chrono::seconds message_lifetime{14 * 86400};
    std::string home_lmtp;                // "ip:port" through the tunnel
    std::string home_transport = "plain"; // plain | mtls
    std::filesystem::path home_tls_cert, home_tls_key;
    std::string home_pin_sha256; // lower-case hex of home's certificate
    std::filesystem::path home_lmtp_secret_file;
    std::string home_lmtp_secret; // from home.lmtp_secret_file (XSECRET); "" = none
    std::size_t home_connections = 4;
    std::chrono::seconds recipient_refresh{60};
    std::chrono::seconds retry_initial{60};
    std::chrono::seconds retry_max{3600};
    std::string log_level = "info";

    // Clients allowed to send to foreign domains without AUTH (the home tunnel peer).
    std::vector<ip_network> trusted_networks;
    bool is_trusted(std::string_view ip) const;

    // Outbound queue (relay/smtp_out).
    std::string outbound_resolver; // "ip:port" or "" (system resolv.conf)
    std::uint16_t outbound_smtp_port = 25;
    std::chrono::seconds outbound_lifetime{5 * 86400};
    std::chrono::seconds outbound_delay_warning{4 * 3600}; // 0: no delay notices
    std::chrono::seconds outbound_retry_initial{300};
    std::chrono::seconds outbound_retry_max{3600};
    std::size_t outbound_connections_per_domain = 5;
    std::size_t outbound_max_connections = 50;
    bool outbound_starttls = true;

    // Submission (relay/submission).
    std::vector<std::string> submission_listen;  // STARTTLS (587)
    std::vector<std::string> submissions_listen; // implicit TLS (465)
    bool submission_show_client_ip = false;
    bool submission_received_auth_user = true;
    std::chrono::seconds auth_cache_ttl{7 * 86400};
    auth::brake_policy login_brake; // auth.* (+ the deprecated submission.auth_* keys)
    // Port 80 for ACME http-01 (relay/http): answers from the challenge directory.
    std::vector<std::string> http_listen; // empty: off
    std::filesystem::path http_challenge_dir = "/var/lib/splitmail/acme-challenge";
    // IMAP pass-through to home (relay/imap_proxy): TCP + PROXY protocol v2, TLS ends at home.
    std::vector<std::string> imap_proxy_listen; // empty: off
    std::string imap_proxy_home;                // "ip:port"; default: home.lmtp's ip, 993
    std::size_t imap_proxy_max_connections = 500;
    std::size_t imap_proxy_max_connections_per_ip = 20;
    std::chrono::seconds imap_proxy_connect_timeout{5};
    std::chrono::seconds imap_proxy_idle_timeout{31 * 60};
    std::filesystem::path dkim_dir;        // empty: no signing
    std::vector<std::string> dkim_domains; // empty: every relay.domains with keys
    bool spf_check = true;                 // Received-SPF on inbound mail (relay/spf)
    std::chrono::seconds spf_timeout{20};  // one whole SPF evaluation
    scanner_settings rspamd, clamav;       // content scanners (relay/filter)
    greylist_settings greylist;            // greylisting (relay/filter/greylist.hpp)
    rate_limit_settings limits;            // rate limits (relay/filter/rate_limit.hpp)
    dnsbl_settings dnsbl;                  // DNS block/allow lists (net/dnsbl.hpp)
    // DKIM verification and Authentication-Results of inbound mail (relay/sender_auth).
    bool dkim_verify = true;
    std::size_t dkim_verify_max_signatures = 5;   // more DKIM-Signature fields are not checked
    std::chrono::seconds dkim_verify_timeout{10}; // all key lookups of one message
    bool auth_results_add = true;                 // Authentication-Results on inbound mail
    bool iprev = true;                            // iprev (RFC 8601 3) of inbound clients
    bool dmarc = true;                            // DMARC of inbound mail (relay/dmarc)
    std::string dmarc_on_reject = "reject";       // reject | quarantine | none
    std::filesystem::path dmarc_psl;              // the Public Suffix List file
    dmarc_report_settings dmarc_reports;          // aggregate reports (relay/dmarc/report_job)
};

std::span<const config::setting_spec> settings_table();
// Loads and checks relay.toml; errors read "FILE: KEY: REASON".
std::expected<settings, std::string>
load_settings(const std::filesystem::path& file,
              config::referenced_files files = config::referenced_files::read);
std::expected<settings, std::string>
settings_from(const config::values& v, std::string_view name,
              config::referenced_files files = config::referenced_files::read);

} // namespace splitmail::relay
