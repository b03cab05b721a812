#pragma once
// Parsing what a DKIM verifier reads from the message: the DKIM-Signature field (RFC 6376 3.5),
// checked as 6.1.1 asks, before any DNS query is made. The tag-list grammar (3.2) is the one
// parser of common/dkim/tag_list.hpp.
//
// Guarantees:
//  - every view returned points into the caller's text (no copy); b_value_begin/end locate the
//    b= value (with its surrounding FWS) so the field can be hashed with b= empty (3.7);
//  - parse_signature() returns either a signature whose required tags (v a b bh d h s) are
//    present and well-formed, or an error with a reason and a class: `syntax` (the field
//    cannot be read: RFC 8601 2.7.1 "neutral") or `policy` (readable but unacceptable:
//    h= without From, i= outside d=, x= before t=, a query method other than dns/txt;
//    "permerror");
//  - numbers (t=, x=, l=) are at most 18 digits (no overflow), base64 is decoded strictly
//    (FWS removed first; padding as RFC 4648 requires).
// Does not: decide pass or fail (verifier.hpp), look up keys, or accept z= copies as anything
// but text (ignored, like any unknown tag, RFC 6376 3.2).
#include "dkim/canon.hpp"

#include "splitmail/dkim/tag_list.hpp"

#include <cstddef>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay::dkim {

using splitmail::dkim::max_tags;
using splitmail::dkim::parse_tags; // RFC 6376 3.2, common/dkim/tag_list.hpp
using splitmail::dkim::tag;

// Strict base64 (RFC 4648 4) after removing FWS (SP, HTAB, CR, LF): RFC 6376 3.5 b=/bh=, 3.6.1
// p=. nullopt when the text is not base64.
std::optional<std::string> decode_base64(std::string_view text);

enum class sig_algorithm { rsa_sha256, ed25519_sha256, rsa_sha1 };
std::string_view to_string(sig_algorithm a);

struct dkim_signature {
    sig_algorithm alg = sig_algorithm::rsa_sha256;
    std::string_view a;                 // as written (for Authentication-Results header.a)
    std::string_view b_text;            // b= as written (FWS included); header.b is its first chars
    std::string b;                      // decoded signature
    std::string bh;                     // decoded body hash
    canon header_canon = canon::simple; // RFC 6376 3.5 c=: default simple/simple
    canon body_canon = canon::simple;
    std::string domain;                      // d=, lower-case
    std::string selector;                    // s=, as written (DNS is case-insensitive)
    std::string auid;                        // i=, default "@" + d (3.5)
    std::vector<std::string> signed_headers; // h=, lower-case, in order
    std::optional<std::uint64_t> length;     // l=
    std::optional<std::int64_t> timestamp;   // t=
    std::optional<std::int64_t> expiry;      // x=
    std::size_t b_value_begin = 0;           // within the field value given to parse_signature()
    std::size_t b_value_end = 0;
};

struct signature_error {
    enum class kind { syntax, policy } type = kind::syntax;
    std::string reason;
};

// `value`: the field value, everything after "DKIM-Signature:" (continuation lines included).
std::expected<dkim_signature, signature_error> parse_signature(std::string_view value);

// The whole field with the b= value emptied (RFC 6376 3.7), for header_hash_input(): `field`
// is the raw field, `value_offset` where its value starts (just after the colon).
std::string without_b_value(std::string_view field, std::size_t value_offset,
                            const dkim_signature& sig);

} // namespace splitmail::relay::dkim
