#pragma once
// DNS record data as text: the one place that turns the wire-format rdata libunbound hands
// out into what people (zone files, deSEC) and our parsers (SPF, DKIM, MX selection) read.
// Used by the relay's resolver (relay/dns, relay/spf, relay/sender_auth) and by
// `splitmail check` (provision/check).
//
// Guarantees:
//  - each function accepts exactly one well-formed rdata item of its type (RFC 1035 3.3 / 3.4,
//    RFC 2782 SRV, RFC 3596 AAAA, RFC 6698 2.1 TLSA) with uncompressed names (RFC 3597 4:
//    libunbound expands them) and refuses anything else with nullopt: a wrong length, a
//    compression pointer, a label past the end, trailing octets, a name over 255 octets;
//  - names come out lower case in presentation form with a trailing dot ("." for the root);
//    octets a host name cannot hold are escaped as in zone files (RFC 1035 5.1: "\." and "\\"
//    for a dot or backslash inside a label, \DDD outside 0x21..0x7e), so a label can never
//    pose as two and the text goes back to libunbound as the same name;
//  - TXT: rdata_to_text quotes each character-string (escaping '"', '\\' and octets outside
//    0x20..0x7e); txt_joined gives the strings' octets concatenated, unescaped, which is the
//    value SPF (RFC 7208 3.3) and DKIM (RFC 6376 3.6.2.2) read.
// Does not: query DNS (context.hpp), parse presentation text back, or know record types
// beyond the ones below.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace splitmail::dns {

enum class rr_type : std::uint16_t {
    a = 1,
    ns = 2,
    cname = 5,
    ptr = 12,
    mx = 15,
    txt = 16,
    aaaa = 28,
    srv = 33,
    tlsa = 52
};

std::optional<rr_type> parse_rr_type(std::string_view name); // "MX" -> mx (case-insensitive)
std::string_view to_string(rr_type t) noexcept;              // "MX"

// One rdata item in presentation format: A "192.0.2.1", AAAA "2001:db8::1", MX
// "10 mx.example.com.", TXT "\"v=spf1 -all\"", SRV "0 1 465 mx.example.com.", TLSA
// "3 1 1 abcd...", PTR/CNAME/NS "name.".
std::optional<std::string> rdata_to_text(rr_type t, std::span<const std::uint8_t> rdata);

// A wire-format name filling `wire` exactly: "mx.example.com." ("." for the root).
std::optional<std::string> wire_name_to_text(std::span<const std::uint8_t> wire);

// A presentation name as a host name: without the trailing dot, "" for the root
// ("mx.example.com." -> "mx.example.com").
std::string host_name(std::string name);

// The character-strings of one TXT rdata item concatenated (no quotes, no escapes).
std::optional<std::string> txt_joined(std::span<const std::uint8_t> rdata);

} // namespace splitmail::dns
