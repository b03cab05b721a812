#pragma once
// The text of every configuration `splitmail provision` writes: relay.toml, home.toml,
// ddns.toml, the wg-quick configurations of both tunnel ends and the hardened systemd units.
// Pure functions of their inputs, so a re-run with the same inputs renders the same bytes
// (that is what makes provisioning idempotent).
//
// Paths arrive already prefixed with the --root directory; they are written as given.
// Guarantees: TOML strings are quoted and escaped; the outputs load through the programs' own
// settings code (provision_relay_test.cpp and provision_home_test.cpp load them).
// Does not: validate inputs (commands/provision_options.cpp does) or write files.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string_view>
#include <string>
#include <vector>

namespace splitmail::provision::setup {

// Where everything lives below `root` (production: "/").
struct layout {
    std::filesystem::path root;
    explicit layout(std::filesystem::path r) : root(std::move(r)) {}
    // `abs` is an absolute production path ("/etc/splitmail"); the result carries the root.
    std::filesystem::path at(std::string_view abs) const;

    std::filesystem::path etc() const { return at("/etc/splitmail"); }
    std::filesystem::path site_file() const { return at("/etc/splitmail/site.toml"); }
    std::filesystem::path relay_toml() const { return at("/etc/splitmail/relay.toml"); }
    std::filesystem::path home_toml() const { return at("/etc/splitmail/home.toml"); }
    std::filesystem::path ddns_toml() const { return at("/etc/splitmail/ddns.toml"); }
    std::filesystem::path tls_dir() const { return at("/etc/splitmail/tls"); }
    std::filesystem::path dkim_dir() const { return at("/etc/splitmail/dkim"); }
    std::filesystem::path pairing_file() const { return at("/etc/splitmail/pairing-home.toml"); }
    std::filesystem::path lmtp_secret() const { return at("/etc/splitmail/lmtp-secret"); }
    // rspamd's controller password (issue 18): plain on both ends, the hash in rspamd's file.
    std::filesystem::path rspamd_password() const {
        return at("/etc/splitmail/rspamd-controller.password");
    }
    std::filesystem::path rspamd_local_dir() const { return at("/etc/rspamd/local.d"); }
    std::filesystem::path clamd_conf() const { return at("/etc/clamav/clamd.conf"); }
    std::filesystem::path users_file() const { return at("/etc/splitmail/users"); }
    std::filesystem::path aliases_file() const { return at("/etc/splitmail/aliases"); }
    std::filesystem::path desec_token() const { return at("/etc/splitmail/desec.token"); }
    std::filesystem::path wg_dir() const { return at("/etc/wireguard"); }
    std::filesystem::path unit_dir() const { return at("/etc/systemd/system"); }
    std::filesystem::path spool_dir() const { return at("/var/spool/splitmail"); }
    std::filesystem::path state_dir() const { return at("/var/lib/splitmail"); }
    std::filesystem::path maildir_root() const { return at("/var/lib/splitmail/mail"); }
    std::filesystem::path ddns_state_dir() const { return at("/var/lib/splitmail-ddns"); }
};

inline constexpr const char* relay_interface = "wg-smrelay";
inline constexpr const char* home_interface = "wg-smhome";

struct tunnel {
    std::string relay_ip = "10.8.0.1";
    std::string home_ip = "10.8.0.2";
    int prefix = 24;
    std::uint16_t wg_port = 51820;
    std::uint16_t lmtp_port = 24;
    // Home's IMAPS for the relay's pass-through (PROXY protocol v2 required; tunnel only).
    std::uint16_t imap_proxy_port = 10993;
};

struct relay_params {
    std::vector<std::string> domains;
    std::string hostname;
    std::filesystem::path tls_cert, tls_key, dkim_dir, spool_dir;
    std::filesystem::path lmtp_secret_file; // "" = none
    tunnel tun;
    bool rspamd = false;            // [rspamd] on, rspamd's normal worker on 127.0.0.1:11333
    std::string clamd_address;      // [clamav] on with clamd at this socket/address ("" = off)
    bool imap_pass_through = false; // [imap_proxy] on 993 to home's tun.imap_proxy_port
};
std::string render_relay_toml(const relay_params& p);

// rspamd wiring on the relay (issue 18), files for /etc/rspamd/local.d/ (rspamd merges them
// into its own configuration): the normal worker (what the relay asks) on loopback only; the
// controller on loopback and the relay's tunnel address (home learns spam/ham through it) with
// `password_hash` (rspamadm pw) for reading and for learning; Bayes statistics in the local
// redis. And a systemd drop-in that starts rspamd after the tunnel is up (its address must
// exist to be bound).
inline constexpr int rspamd_normal_port = 11333, rspamd_controller_port = 11334;
std::string render_rspamd_worker_normal();
std::string render_rspamd_controller(const tunnel& t, const std::string& password_hash);
std::string render_rspamd_redis();
std::string render_rspamd_dropin(const std::string& wg_interface);
// The password hash in a controller file render_rspamd_controller() wrote ("" if none).
std::string rspamd_password_hash(std::string_view controller_file);
// clamd's LocalSocket (or TCPSocket as 127.0.0.1:PORT) from clamd.conf's text; Debian's
// default /run/clamav/clamd.ctl when neither is set.
std::string clamd_address(std::string_view clamd_conf);

struct home_params {
    std::vector<std::string> domains;
    std::string hostname; // the home's own name (IMAP certificate, LMTP greeting)
    std::filesystem::path tls_cert, tls_key, users_file, aliases_file, maildir_root;
    std::filesystem::path config_file;      // home.toml itself (named in a comment)
    std::filesystem::path lmtp_secret_file; // "" = none
    tunnel tun;
    // Spam learning through the relay's rspamd controller (issue 18; "" = not written).
    std::string learn_controller;
    std::filesystem::path learn_password_file;
    // The relay's IMAP pass-through arrives on tun.home_ip:tun.imap_proxy_port, from
    // tun.relay_ip only, each connection with a PROXY v2 header.
    bool imap_pass_through = false;
};
std::string render_home_toml(const home_params& p);

struct ddns_params {
    std::string domain;             // deSEC zone
    std::vector<std::string> names; // relative to it; "@" = apex
    std::filesystem::path state_file, token_file;
    std::string api_url;           // "" = the program's default (deSEC)
    std::filesystem::path ca_file; // "" = the system's CAs
};
std::string render_ddns_toml(const ddns_params& p);

// wg-quick configuration of the relay end: listens, knows home's public key.
std::string render_relay_wg(const tunnel& t, const std::string& relay_private_key,
                            const std::string& home_public_key);
// wg-quick configuration of the home end: dials the relay, keeps the NAT mapping open.
std::string render_home_wg(const tunnel& t, const std::string& home_private_key,
                           const std::string& relay_public_key, const std::string& endpoint);

// Reads "PrivateKey = ..." of the [Interface] and the first [Peer]'s "PublicKey = ..." out of a
// wg-quick configuration (either may come back empty).
struct wg_keys_found {
    std::string private_key;
    std::string peer_public_key;
};
wg_keys_found read_wg_keys(const std::string& conf_text);

// Re-pairing (issue 16 bug 3): `conf_text` with only the key material replaced — the value of
// PrivateKey in [Interface], of PublicKey in the first [Peer] and, when `endpoint` is not empty,
// of that peer's Endpoint. Every other line (comments, MTU, PostUp, an edited AllowedIPs) is
// kept byte for byte. nullopt when the file lacks one of those lines (then it is not safe to
// edit in place: the caller reports it and leaves the file alone).
std::optional<std::string> rekey_wg_conf(std::string_view conf_text, const std::string& private_key,
                                         const std::string& peer_public_key,
                                         const std::string& endpoint);

struct unit_params {
    std::filesystem::path bindir = "/usr/bin";
    std::filesystem::path config;                // the program's --config file
    std::vector<std::filesystem::path> writable; // ReadWritePaths
    std::string wg_interface; // After/Requires wg-quick@IFACE.service ("" = none)
};
std::string render_relay_unit(const unit_params& p);
std::string render_home_unit(const unit_params& p);
std::string render_ddns_unit(const unit_params& p);

// TOML basic string with quotes, escaping '"', '\\' and control characters.
std::string toml_quote(std::string_view s);

} // namespace splitmail::provision::setup
