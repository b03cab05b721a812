#pragma once
// The message side of DKIM signing: finding the header section, splitting it into fields,
// choosing which fields to sign, and building the header data that is hashed (RFC 6376 3.7).
//
// Guarantees: everything returned views into the caller's buffer (no copy of the message);
// header_hash_input() follows RFC 6376 5.4.2 for repeated names (instances are taken from the
// bottom up; a name listed more often than present contributes nothing, which is how the extra
// "from" of oversigning stops an added From: from verifying).
// Does not: decode, unfold for display, or validate RFC 5322 syntax beyond what DKIM needs; a
// line without a colon in the header section becomes a field with an empty name, never signed.
#include "dkim/canon.hpp"

#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay::dkim {

struct header_field {
    std::string_view name; // as written, WSP before the colon removed; "" if there is no colon
    std::string_view raw;  // the whole field: name, colon, value, continuation lines, line end
};

struct message_view {
    std::string_view header; // header fields up to and including the last field's line end
    std::string_view body;   // after the empty line; empty if there is none
};

// Offset of the first body octet: just after the empty line (CRLF CRLF, or bare LF forms) that
// ends the header section; nullopt if `prefix` does not contain that empty line yet.
std::optional<std::size_t> find_body_offset(std::string_view prefix);

// Header section and body; a message without the empty line is all header.
message_view split_message(std::string_view message);

// Fields of a header section in order. Lines starting with SP or HTAB continue the field above
// (RFC 5322 2.2.3).
std::vector<header_field> parse_header(std::string_view header_section);

// ASCII case-insensitive equality (header field names, RFC 5322 1.2.2).
bool iequals(std::string_view a, std::string_view b);

// Names we sign, in the order they go into h=, lower-case (RFC 6376 5.4.1): From, To, Cc,
// Subject, Date, Message-ID, Reply-To, In-Reply-To, References, MIME-Version, Content-Type,
// Content-Transfer-Encoding, then every List-* field present (RFC 2369/2919), each name once
// per instance present. "from" is listed once more than present (oversigning, RFC 6376 8.15),
// so nobody can add a From: above ours. Absent names other than From are not listed.
// Returns nullopt when the message has no From: (RFC 6376 5.4: From MUST be signed).
std::optional<std::vector<std::string>> headers_to_sign(std::span<const header_field> fields);

// The octets the signature covers (RFC 6376 3.7): for each name of `h`, the bottom-most not yet
// used field of that name, canonicalized by `mode` (relaxed: relaxed_header(); simple: the
// field as it is, RFC 6376 3.4.1); then `signature_field` (the DKIM-Signature field with an
// empty b= value) canonicalized the same way, without its trailing CRLF.
std::string header_hash_input(std::span<const header_field> fields, std::span<const std::string> h,
                              std::string_view signature_field, canon mode = canon::relaxed);

} // namespace splitmail::relay::dkim
