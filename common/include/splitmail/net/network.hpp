#pragma once
// The client network an address belongs to, for every per-network count (connection admission,
// the login brake, refused-recipient counts): IPv4 /24, IPv6 /64 (RFC 6177: the smallest block
// an end site is given, so a client rotating its interface identifier stays one network);
// an IPv4-mapped IPv6 address counts as IPv4.
// "203.0.113.7" -> "203.0.113.0/24", "[2001:db8:1:2::9%eth0]" -> "2001:db8:1:2::/64".
// Does not: resolve names or look at anything but the text.
#include <optional>
#include <string>
#include <string_view>

namespace splitmail::net {

// nullopt when `ip` is not an IPv4 or IPv6 address (brackets and a zone id are allowed).
std::optional<std::string> parse_client_network(std::string_view ip);

// The same, but text that is no address is its own "network" (at most 64 characters), so a
// count keyed by it still works.
std::string client_network(std::string_view ip);

} // namespace splitmail::net
