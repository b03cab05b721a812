#pragma once
// The Authentication-Results header field (RFC 8601) the relay writes for inbound mail, and the
// removal of forged ones (RFC 8601 5).
//
// Guarantees:
//  - authentication_results() writes "Authentication-Results: <authserv-id>;" then one resinfo
//    per method ("spf=pass reason=\"...\" smtp.mailfrom=...", "dkim=fail reason=\"body hash
//    did not verify\" header.d=..."): the why as an RFC 8601 2.2 reasonspec (machine-readable,
//    unlike a comment, which parsers drop),
//    each on its own folded line, ending in CRLF; with no method it writes "; none" (2.2);
//  - property values are written as a token when they are one (RFC 2045 token: no tspecials,
//    no CTL, no SP), else as an RFC 5322 quoted-string with '"' and '\' escaped; CR, LF and
//    other controls are dropped, so text from the
//    client (MAIL FROM, d=, reasons) can neither end the field nor add a method; each value
//    is cut at 200 octets, so no line exceeds 998 (RFC 5322 2.1.1);
//  - authserv_id_of() reads the authserv-id of a received field's value (after CFWS, up to
//    CFWS or ';'); remove_results_for() drops every Authentication-Results field whose
//    authserv-id equals ours (ASCII case-insensitive) from a header block and keeps every
//    other octet as it was.
// Does not: parse the results of other hosts' fields (we only need their authserv-id).
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace splitmail::relay::sender_auth {

struct method_result {
    std::string method; // "spf", "dkim"
    std::string result; // "pass", "fail", "none", ...
    std::string reason; // why, for people and filters ("": no reasonspec)
    std::vector<std::pair<std::string, std::string>> properties; // ("header.d", "example.com")
};

std::string authentication_results(std::string_view authserv_id,
                                   std::span<const method_result> methods);

std::string authserv_id_of(std::string_view field_value);

struct removal {
    std::string block;      // the header block without our fields
    std::size_t fields = 0; // how many were removed
};

// nullopt when the block holds no field claiming `authserv_id` (the common case: no copy).
std::optional<removal> remove_results_for(std::string_view header_block,
                                          std::string_view authserv_id);

} // namespace splitmail::relay::sender_auth
