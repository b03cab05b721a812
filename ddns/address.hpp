#pragma once
// IP addresses as splitmail-ddns sees them: strict text parsing, and the classification that
// decides whether an address may be published in DNS at all.
//
// Guarantees: parse_ip accepts only the canonical textual forms (dotted quad without leading
// zeros, RFC 4291 2.2 IPv6 text without zone index); classify() names every special-purpose
// range of the IANA registries (RFC 6890) that must never be published for the home: private
// (RFC 1918), CGNAT shared space (RFC 6598), loopback, link-local (RFC 3927, RFC 4291 2.5.6),
// documentation (RFC 5737, RFC 3849, RFC 9637), unique local (RFC 4193), multicast and the rest.
// Only address_class::global is publishable. Pure: no sockets, no system calls but inet_pton/ntop.
#include <array>
#include <cstdint>
#include <expected>
#include <string>
#include <string_view>

namespace splitmail::ddns {

enum class family { v4, v6 };

std::string_view record_type(family f) noexcept; // "A" or "AAAA"
std::string_view family_name(family f) noexcept; // "IPv4" or "IPv6"

struct ip_address {
    family fam = family::v4;
    std::array<std::uint8_t, 16> bytes{}; // IPv4 uses bytes[0..3]

    std::string to_string() const; // canonical text (RFC 5952 for IPv6)
    bool operator==(const ip_address&) const = default;
};

std::expected<ip_address, std::string> parse_ip(std::string_view text);

// The answer of a checkip service or URL source: one address of the wanted family, optional
// surrounding whitespace (a trailing newline is usual), nothing else.
std::expected<ip_address, std::string> parse_ip_answer(std::string_view body, family want);

enum class address_class {
    global,
    unspecified,   // 0.0.0.0/8, ::/128
    loopback,      // 127.0.0.0/8, ::1
    private_use,   // RFC 1918
    cgnat,         // 100.64.0.0/10, RFC 6598
    link_local,    // 169.254.0.0/16, fe80::/10
    documentation, // 192.0.2/24, 198.51.100/24, 203.0.113/24, 2001:db8::/32, 3fff::/20
    unique_local,  // fc00::/7
    benchmarking,  // 198.18.0.0/15
    multicast,     // 224.0.0.0/4, ff00::/8
    reserved,      // anything else that is not global unicast
};

address_class classify(const ip_address& a) noexcept;
std::string_view describe(address_class c) noexcept; // "a CGNAT address (RFC 6598)"
inline bool publishable(address_class c) noexcept { return c == address_class::global; }

} // namespace splitmail::ddns
