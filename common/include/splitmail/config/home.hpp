#pragma once
// splitmail-home settings: the table (key, type, default, doc) home.toml is checked against,
// and the typed immutable struct the rest of the home server reads. docs/configuration.md is
// rendered from settings_table() by `splitmail-home --print-config-doc`. It lives in common/
// because `splitmail check` and `splitmail user` read home.toml through the same table.
#include "splitmail/auth/brake.hpp"
#include "splitmail/config/relay.hpp" // ip_network (imap.proxy_from)
#include "splitmail/config/settings.hpp"

#include <chrono>
#include <cstdint>
#include <expected>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace splitmail::home {

struct settings {
    std::vector<std::string> domains;     // home.domains (lower-case); empty: from the files
    std::string hostname;                 // home.hostname; "" -> gethostname()
    std::vector<std::string> lmtp_listen; // lmtp.listen
    std::string lmtp_transport = "plain"; // plain | mtls
    std::filesystem::path lmtp_tls_cert, lmtp_tls_key;
    std::string lmtp_client_pin_sha256; // lower-case hex, mtls only
    std::filesystem::path lmtp_relay_secret_file;
    std::string lmtp_relay_secret; // from lmtp.relay_secret_file; "" = not required
    std::uint64_t max_message_size = 64ull << 20;
    std::size_t max_recipients = 1000;
    std::size_t max_connections = 100;
    std::chrono::seconds idle_timeout{300};
    std::filesystem::path users_file;
    std::filesystem::path aliases_file;   // may be empty
    std::size_t min_password_length = 12; // read by `splitmail user` (provision/commands/user.cpp)
    std::chrono::seconds auth_cache_ttl{300}; // users.auth_cache_ttl (verified_cache.hpp)
    std::size_t auth_cache_size = 10000;      // users.auth_cache_size
    std::filesystem::path maildir_root;
    std::string recipient_delimiter = "+";
    std::string junk_folder = "Junk"; // maildir.junk_folder; empty: junk goes to INBOX
    std::string learn_controller;     // learn.rspamd_controller; empty: no learning
    std::filesystem::path learn_password_file;
    std::string learn_password; // read from learn_password_file
    std::chrono::seconds learn_timeout{10};
    std::string log_level = "info";
    // IMAP (homeserver/imap/)
    std::vector<std::string> imap_listen;  // imap.listen: STARTTLS; empty = off
    std::vector<std::string> imaps_listen; // imaps.listen: implicit TLS
    // The relay's IMAP pass-through (PROXY protocol v2, common/proxy/v2.hpp).
    std::vector<std::string> imaps_proxy_listen;    // imaps.proxy_listen: PROXY header required
    std::vector<relay::ip_network> imap_proxy_from; // imap.proxy_from: who may send one
    std::filesystem::path imap_tls_cert, imap_tls_key;
    bool imap_plaintext_on_loopback = false;
    std::chrono::seconds imap_idle_timeout{1800};
    std::chrono::seconds imap_login_failure_delay{0};
    auth::brake_policy login_brake; // auth.* (IMAP and XAUTH share one brake)
    std::string imap_tls_ciphers;   // TLS 1.2 cipher list ("" = OpenSSL defaults)
    // Admission of ports 143 + 993 together (net/admission.hpp) and the pre-login deadline.
    std::size_t imap_max_connections = 1000;
    std::size_t imap_max_connections_per_ip = 10;
    std::size_t imap_max_connections_per_network = 50; // per /24 (IPv4) or /64 (IPv6)
    std::size_t imap_max_unauthenticated = 500;        // resolved: 0 in the file = half
    std::chrono::seconds imap_login_timeout{60};
    std::chrono::seconds imap_overload_timeout{10};
    std::size_t imap_max_connections_per_user = 20;
    std::size_t imap_store_threads = 4; // per-user strands run on this many threads
};

std::span<const config::setting_spec> settings_table();
// Loads and checks home.toml; errors read "FILE: KEY: REASON".
std::expected<settings, std::string>
load_settings(const std::filesystem::path& file,
              config::referenced_files files = config::referenced_files::read);
std::expected<settings, std::string>
settings_from(const config::values& v, std::string_view name,
              config::referenced_files files = config::referenced_files::read);

} // namespace splitmail::home
