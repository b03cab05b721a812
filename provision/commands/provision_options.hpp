#pragma once
// The command line of `splitmail provision relay|home` (the usage text, the options and their
// checks); what the options mean: commands/provision.hpp.
//
// Guarantees: options are `--name VALUE` or `--name=VALUE` (--domain repeats; a second use of
// another option overrides the first); a parsed option set is complete and valid: names are
// lower-case ASCII host names with at least two labels (a trailing dot dropped), addresses
// parse, the port is 1-65535, --root and --bindir are absolute, normalised and free of
// characters systemd units or TOML would need quoted (`--root /` is the real system). Errors
// say which option and what to give.
// Does not: look at the disk beyond making paths absolute, or decide defaults that depend on
// existing files (the flows do: commands/provision_flow.hpp).
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace splitmail::provision::provisioning {

// Printed with --help, and after a usage error.
extern const char* const usage_text;

struct common_options {
    std::filesystem::path root = "/";
    bool root_given = false;
    std::filesystem::path bindir = "/usr/bin";
    bool force = false;
    bool dry_run = false;
    bool sync_tunnel = false; // --sync-tunnel: also sync a running interface under --root
    std::string desec_api;    // "" = keep the site file's (default https://desec.io/api/v1)
    std::filesystem::path desec_ca_file; // "" = keep the site file's (default: the system's CAs)
};

struct relay_options : common_options {
    std::vector<std::string> domains;
    std::string hostname, ipv4, ipv6, imap_host;
    std::uint16_t wg_port = 51820;
    bool new_tunnel_keys = false;
    std::string scanners = "auto"; // --scanners auto|on|off: rspamd/clamd wiring (issue 18)
    // --imap-pass-through yes|no: clients reach home's IMAP at the relay (imap.<domain>, port
    // 993, relay/imap_proxy), for a home behind CGNAT; "" = as relay.toml has it (else no).
    std::string imap_pass_through;
};

struct home_options : common_options {
    std::filesystem::path pairing;
    std::string hostname;
};

// A usage error (exit 2) is the text returned; nullopt when `o` is complete.
std::optional<std::string> parse_relay(std::span<const std::string> args, relay_options& o);
std::optional<std::string> parse_home(std::span<const std::string> args, home_options& o);

} // namespace splitmail::provision::provisioning
