#pragma once
// The site file, /etc/splitmail/site.toml: what `splitmail provision relay` decided about this
// installation (domains, the relay's public name and addresses, where its configs and keys are,
// how to reach deSEC) and what `splitmail dns ...` and `splitmail check` read instead of asking
// again. Written by `provision relay`; people may edit it (documented in docs/configuration.md).
//
// Guarantees: load_site() checks every key against site_table() (unknown keys, wrong types and
// unusable values are errors "FILE: KEY: REASON"); relative paths are refused; defaults follow
// the production layout (docs/internal/provision.md).
// Does not: read relay.toml itself (callers load it through relay_config when they need it).
#include <expected>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "splitmail/config/settings.hpp"

namespace splitmail::provision {

std::span<const config::setting_spec> site_table();

struct site {
    std::vector<std::string> domains;   // mail domains, lower case; domains[0] is the primary
    std::string hostname;               // relay FQDN (MX target, EHLO, PTR), no trailing dot
    std::string public_ipv4;            // "" when none
    std::string public_ipv6;            // "" when none
    std::string imap_host;              // name clients use for IMAP (home); "" = not published
    std::filesystem::path relay_config; // relay.toml
    std::filesystem::path home_config;  // home.toml ("" on a relay-only machine)
    std::string wg_interface;           // "wg-smrelay"
    std::filesystem::path wg_config;    // /etc/wireguard/wg-smrelay.conf
    std::string dmarc_rua;              // "mailto:postmaster@<primary>" by default
    std::string tlsrpt_rua;             // same default
    std::uint32_t ttl = 3600;           // TTL of planned records (raised to deSEC's minimum)
    std::string desec_api;              // "https://desec.io/api/v1"
    std::filesystem::path desec_token_file;
    std::filesystem::path desec_ca_file; // "" = system store (tests point at their CA)
    std::string resolver;                // "ip:port" for `check`; "" = /etc/resolv.conf
    int cert_warn_days = 21;             // `check` warns when the TLS cert expires sooner
    std::vector<std::string> warnings;   // deprecated keys used ("FILE: KEY ...: rename ...")
};

std::expected<site, std::string> load_site(const std::filesystem::path& file);
std::expected<site, std::string> site_from(const config::values& v, const std::string& file_name);

// The site file's text for `s` (every key written, with a comment line per section), such that
// load_site() of it gives back `s`.
std::string render_site(const site& s);

} // namespace splitmail::provision
