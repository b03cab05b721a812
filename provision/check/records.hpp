#pragma once
// DNS record data for `splitmail check`: records in presentation text (as deSEC and zone
// files write them, and as common/dns turns a resolver's wire rdata into text: rdata_to_text
// of splitmail/dns/rdata.hpp) brought to one canonical form so a planned RRset and a
// resolver's answer can be compared.
//
// Guarantees:
//  - canonical() is the same for records that mean the same: names compared without case and
//    with a trailing dot, IPv6 in RFC 5952 form, TXT as the concatenation of its strings
//    (RFC 7208 3.3 and RFC 6376 3.6.2.2 join them; how a value is split does not matter),
//    TLSA hex in lower case;
//  - compare_rrset() says which planned records are missing and which answered ones are extra.
// Does not: query DNS (dns_query.hpp) or understand what a TXT record says (spf.hpp, dkim).
#include "splitmail/dns/rdata.hpp"

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::provision::check {

// Record types and wire -> text live in common/dns (shared with the relay's resolver).
using splitmail::dns::parse_rr_type;
using splitmail::dns::rdata_to_text;
using splitmail::dns::rr_type;
using splitmail::dns::to_string;
using splitmail::dns::wire_name_to_text;

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
