#pragma once
// SPF records (RFC 7208 4.5, 4.6, 12): recognising a published record and parsing it into
// terms, and the macro-string syntax of RFC 7208 7.1. Pure: no DNS, no I/O.
//
// Guarantees:
//  - parse_record accepts exactly the ABNF of RFC 7208 12 (names case-insensitive as RFC 5234
//    says); any syntax error anywhere, a non-ASCII byte, an unknown mechanism, or a second
//    redirect= / exp= gives an error naming the offending term (RFC 7208 4.6: permerror
//    before anything is evaluated);
//  - domain-specs are checked before expansion: they end in a macro or in "." toplabel
//    (RFC 7208 7.1: syntax is never re-checked after expansion); the letters c, r, t are
//    refused outside explanation text (RFC 7208 7.2);
//  - CIDR lengths have no leading zeros and stay within 0-32 / 0-128;
//  - linear in the input; the number of terms is bounded by the record length.
// Does not: expand macros (macro.hpp) or evaluate anything (evaluator.hpp).
#include <array>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::spf {

// One piece of a macro-string: literal text, or a macro-expand "%{" letter transformers
// delimiters "}". "%%", "%_" and "%-" are stored as their literal expansions.
struct macro_token {
    bool is_macro = false;
    std::string literal;     // is_macro == false
    char letter = 0;         // lower-case macro letter: s l o d i p h c r t v
    bool url_escape = false; // the letter was upper-case (RFC 7208 7.3)
    unsigned keep = 0;       // number of right-hand parts to keep; 0 = all
    bool reverse = false;
    std::string delimiters; // "" means "."
};
using macro_string = std::vector<macro_token>;

enum class macro_syntax {
    domain_spec,   // mechanism / modifier arguments: no c r t, must end well (7.1, 7.2)
    explain_string // exp= TXT text: spaces allowed, c r t allowed (6.2)
};

// Tokenises a macro-string; `syntax` decides what is allowed (see macro_syntax).
std::expected<macro_string, std::string> parse_macro_string(std::string_view text,
                                                            macro_syntax syntax);

enum class qualifier : char { pass = '+', fail = '-', softfail = '~', neutral = '?' };
enum class mechanism_kind { all, include, a, mx, ptr, ip4, ip6, exists };

// An IPv4 or IPv6 address in network byte order; IPv4 uses the first four octets.
struct ip_address {
    bool v6 = false;
    std::array<std::uint8_t, 16> octets{};
    bool operator==(const ip_address&) const = default;
};
// inet_pton text; an IPv4-mapped IPv6 address ("::ffff:192.0.2.1") becomes IPv4, as
// RFC 7208 5 asks for the client address.
std::optional<ip_address> parse_ip(std::string_view text);
// The first `bits` bits of a and b agree (both of the same family).
bool same_prefix(const ip_address& a, const ip_address& b, unsigned bits);

struct mechanism {
    qualifier q = qualifier::pass;
    mechanism_kind kind = mechanism_kind::all;
    std::optional<macro_string> domain; // include a mx ptr exists; empty = <domain>
    ip_address network;                 // ip4 ip6
    unsigned cidr4 = 32;                // a mx ip4
    unsigned cidr6 = 128;               // a mx ip6
    std::string text;                   // the term as written, for logs and Received-SPF
};

struct record {
    std::vector<mechanism> mechanisms; // in record order
    std::optional<macro_string> redirect;
    std::optional<macro_string> exp;
};

// RFC 7208 4.5: a TXT string is an SPF record when it begins with "v=spf1" followed by a
// space or the end (case-insensitive).
bool is_spf_record(std::string_view txt);

// The record (starting with "v=spf1"), or why it is a permerror.
std::expected<record, std::string> parse_record(std::string_view text);

} // namespace splitmail::spf
