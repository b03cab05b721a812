#pragma once
// IP address text as people write it in configuration and DNS ("192.0.2.25", "2001:db8::25").
//
// Guarantees: exactly what inet_pton accepts (IPv4 dotted quad in decimal, IPv6 per RFC 4291
// 2.2); no brackets, ports, zone ids or prefixes.
#include <string_view>

namespace splitmail::address {

bool is_ipv4_text(std::string_view s);
bool is_ipv6_text(std::string_view s);

} // namespace splitmail::address
