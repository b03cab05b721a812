#pragma once
// The pairing file: what `splitmail provision relay` hands to `splitmail provision home` (copied
// by the admin, e.g. over ssh) so the home can dial the relay's WireGuard endpoint and knows
// its own tunnel key and the relay's names. Format: docs/internal/provision.md.
//
//   [pairing]
//   version = 1
//   domains = ["example.com"]
//   relay_hostname = "mx.example.com"
//   relay_endpoint = "203.0.113.5:51820"     ([v6]:port for IPv6)
//   relay_public_key / home_private_key / home_public_key = WireGuard keys (base64)
//   tunnel_relay = "10.8.0.1", tunnel_home = "10.8.0.2", tunnel_prefix = 24
//   lmtp_port = 24
//   relay_tls_sha256 = "<hex SHA-256 of the relay certificate (DER)>"
//   imap_host = ""
//   lmtp_secret = "<relay<->home LMTP pairing secret (XSECRET, contracts.md)>"  (optional:
//                  files from before it was added have none; home then requires no secret)
//   rspamd_controller = "10.8.0.1:11334", rspamd_password = "..."  (optional, together: the
//                  relay's rspamd controller for spam learning, issue 18)
//   imap_pass_through = "imap.example.com", imap_proxy_listen = "10.8.0.2:10993"  (optional,
//                  together: the relay forwards IMAP clients of that name to home's
//                  imaps.proxy_listen through the tunnel)
//
// Guarantees: parse_pairing() accepts exactly what render_pairing() writes for a valid
// pairing (round trip), checks the version before anything else (a different version is
// "pairing version N; this splitmail reads version 1"), refuses unknown keys, and validates
// every value (keys, addresses, ports, domains); errors read "NAME: KEY: REASON".
// Does not: read files or check that the keys belong together (`wg pubkey` does that in
// commands/provision_relay.cpp and provision_home.cpp).
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::provision::setup {

inline constexpr int pairing_version = 1;

struct pairing {
    int version = pairing_version;
    std::vector<std::string> domains;
    std::string relay_hostname;
    std::string relay_endpoint; // "ip:port" or "[ip6]:port"
    std::string relay_public_key;
    std::string home_private_key;
    std::string home_public_key;
    std::string tunnel_relay = "10.8.0.1";
    std::string tunnel_home = "10.8.0.2";
    int tunnel_prefix = 24;
    int lmtp_port = 24;
    std::string relay_tls_sha256;
    std::string imap_host;
    std::string lmtp_secret;
    std::string rspamd_controller; // "10.8.0.1:11334": home learns spam/ham there ("" = none)
    std::string rspamd_password;   // the controller's password (plain)
    std::string imap_pass_through; // the name IMAP clients use at the relay ("" = none)
    std::string imap_proxy_listen; // home's "tunnel_home:port" the relay forwards them to
};

std::string render_pairing(const pairing& p);
std::expected<pairing, std::string> parse_pairing(std::string_view text, std::string_view name);

// Splits "ip:port" / "[ip6]:port" into host (without brackets) and port; false if malformed
// or the host is not an IP address literal.
bool split_endpoint(std::string_view endpoint, std::string& host, std::uint16_t& port);

} // namespace splitmail::provision::setup
