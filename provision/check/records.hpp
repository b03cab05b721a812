#pragma once
// DNS record data for `splitmail check`: the wire format libunbound hands out turned into
// presentation text (as deSEC and zone files write it), and records of either origin brought
// to one canonical form so a planned RRset and a resolver's answer can be compared.
//
// Guarantees:
//  - rdata_to_text() accepts exactly one well-formed rdata item of the given type (RFC 1035
//    3.3 / 3.4, RFC 2782 SRV, RFC 3596 AAAA, RFC 6698 2.1 TLSA) with uncompressed names and
//    refuses anything else with nullopt; names come out lower case with a trailing dot;
//  - canonical() is the same for records that mean the same: names compared without case and
//    with a trailing dot, IPv6 in RFC 5952 form, TXT as the concatenation of its strings
//    (RFC 7208 3.3 and RFC 6376 3.6.2.2 join them; how a value is split does not matter),
//    TLSA hex in lower case;
//  - compare_rrset() says which planned records are missing and which answered ones are extra.
// Does not: query DNS (dns_query.hpp) or understand what a TXT record says (spf.hpp, dkim).
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::provision::check {

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
// "10 mx.example.com.", TXT "\"v=spf1 -all\"" (each string quoted; '"', '\\' and octets
// outside 0x20..0x7e escaped as \" \\ \DDD), SRV "0 1 465 mx.example.com.", TLSA
// "3 1 1 abcd...", PTR/CNAME/NS "name.".
std::optional<std::string> rdata_to_text(rr_type t, std::span<const std::uint8_t> rdata);

// A wire-format name filling `wire` exactly: "mx.example.com." ("." for the root).
std::optional<std::string> wire_name_to_text(std::span<const std::uint8_t> wire);

// The character-strings of a TXT presentation value: "\"a\" \"b\"" -> {"a", "b"}. An unquoted
// value is one string (deSEC always quotes). nullopt for an unterminated quote or bad escape.
std::optional<std::vector<std::string>> parse_txt_strings(std::string_view text);

// The strings of a TXT value joined (the value SPF and DKIM read).
std::optional<std::string> txt_joined(std::string_view text);

// Canonical form of one record of type t for comparison; nullopt if it does not parse.
std::optional<std::string> canonical(rr_type t, std::string_view text);

struct rrset_diff {
    std::vector<std::string> missing;  // planned, not answered (as planned)
    std::vector<std::string> extra;    // answered, not planned (as answered)
    std::vector<std::string> unparsed; // records of either side canonical() refused
    bool same() const { return missing.empty() && extra.empty() && unparsed.empty(); }
};

rrset_diff compare_rrset(rr_type t, const std::vector<std::string>& planned,
                         const std::vector<std::string>& answered);

// "203.0.113.5" -> "5.113.0.203.in-addr.arpa", "2001:db8::1" -> "1.0.0...8.b.d.0.1.0.0.2.ip6.arpa"
// (RFC 1035 3.5, RFC 3596 2.5); nullopt for a string that is not an address.
std::optional<std::string> reverse_name(std::string_view address);

// Address text in canonical form (inet_ntop of inet_pton); nullopt if not an address.
std::optional<std::string> canonical_address(std::string_view address);

} // namespace splitmail::provision::check
