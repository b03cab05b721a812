#pragma once
// SPF for `splitmail check` (RFC 7208): find a domain's SPF record among its TXT records, parse
// it, and decide whether mail from an address would pass.
//
// Supported (evaluated): ip4, ip6 (with prefix lengths), a and mx (with an optional domain and
// "/cidr4//cidr6", resolved through the caller's lookups), all; exp= and unknown modifiers are
// ignored as RFC 7208 6 says.
// Not followed: include, exists, ptr, redirect= and macros (%{...}). When one of them could
// decide the result, the verdict is `unknown` and `reason` names it; a "+include" before a
// passing mechanism cannot change a pass, so such a record still passes.
// Guarantees: parse_spf() refuses what RFC 7208 calls a permerror for the syntax (unknown
// mechanism, bad prefix length, bad address, a second redirect=) with a reason.
// Does not: query DNS itself; count DNS lookups (RFC 7208 4.6.4) beyond a/mx.
#include <expected>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::provision::check {

struct spf_term {
    char qualifier = '+';  // + - ~ ?
    std::string mechanism; // lower case: all include a mx ptr ip4 ip6 exists
    std::string domain;    // a/mx/include/exists/ptr target ("" = the checked domain)
    std::string address;   // ip4/ip6 address text
    int cidr4 = -1;        // prefix length; -1 = not given (32 / the whole address)
    int cidr6 = -1;        // -1 = 128
};

struct spf_record {
    std::vector<spf_term> terms;
    std::string redirect; // redirect= modifier, "" if none
};

// A joined TXT value is an SPF record when it starts with "v=spf1" followed by a space or
// the end (RFC 7208 4.5, case-insensitive).
bool is_spf(std::string_view joined_txt);

std::expected<spf_record, std::string> parse_spf(std::string_view joined_txt);

// Addresses of a name (A for an IPv4 question, AAAA for IPv6) and of the exchanges of a
// domain's MX; errors are resolver trouble ("SERVFAIL ...").
struct spf_lookups {
    std::function<std::expected<std::vector<std::string>, std::string>(const std::string& name,
                                                                       bool ipv6)>
        addresses;
    std::function<std::expected<std::vector<std::string>, std::string>(const std::string& domain,
                                                                       bool ipv6)>
        mx_addresses;
};

enum class spf_verdict { pass, not_pass, unknown };

struct spf_coverage {
    spf_verdict verdict = spf_verdict::unknown;
    std::string reason; // the deciding term ("ip4:203.0.113.0/24", "-all", "no mechanism
                        // matches and there is no all") or what was not followed
};

// Would mail from `address` sent for `domain` pass `r`? (RFC 7208 4.6.2: first match wins.)
spf_coverage spf_covers(const spf_record& r, const std::string& address, const std::string& domain,
                        const spf_lookups& lookups);

// True when `address` lies in `network`/`prefix` (both IPv4 or both IPv6).
bool in_prefix(const std::string& address, const std::string& network, int prefix);

} // namespace splitmail::provision::check
