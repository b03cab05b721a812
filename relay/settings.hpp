#pragma once
// splitmail-relay settings: the table (key, type, default, doc) that relay.toml is checked
// against, and the typed immutable struct the rest of the relay reads. docs/configuration.md
// is rendered from settings_table() by `splitmail-relay --print-config-doc`.
#include "splitmail/config/settings.hpp"

#include <chrono>
#include <expected>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

namespace splitmail::relay {

struct settings {
    std::string hostname;                  // relay.hostname: EHLO name, Received: by
    std::vector<std::string> domains;      // relay.domains: mail domains we accept for (lower-case)
    std::vector<std::string> smtp_listen;  // smtp.listen
    std::uint64_t max_message_size = 0;
    std::size_t max_recipients = 100;
    std::size_t max_connections = 500;
    std::size_t max_connections_per_ip = 20;
    std::chrono::seconds idle_timeout{300};
    std::filesystem::path tls_cert, tls_key; // empty: no STARTTLS
    std::filesystem::path spool_dir;
    std::chrono::seconds message_lifetime{14 * 86400};
    std::string home_lmtp;                  // "ip:port" through the tunnel
    std::string home_transport = "plain";   // plain | mtls
    std::filesystem::path home_tls_cert, home_tls_key;
    std::string home_pin_sha256;            // lower-case hex of home's certificate
    std::size_t home_connections = 4;
    std::chrono::seconds recipient_refresh{60};
    std::chrono::seconds retry_initial{60};
    std::chrono::seconds retry_max{3600};
    std::string log_level = "info";
};

std::span<const config::setting_spec> settings_table();
// Loads and checks relay.toml; errors read "FILE: KEY: REASON".
std::expected<settings, std::string> load_settings(const std::filesystem::path& file);
std::expected<settings, std::string> settings_from(const config::values& v, std::string_view name);

} // namespace splitmail::relay
