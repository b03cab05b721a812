#pragma once
// DKIM key records for `splitmail check`: is the key published at SEL._domainkey.D the one
// the relay signs with?
//
// Guarantees: compare_dkim() reads both sides as RFC 6376 3.2 tag lists (white space around
// tags and values ignored, and inside p= as base64 allows it, 3.6.1), so how the value was
// split into TXT strings or spaced does not matter; it compares k= (default rsa) and p=.
// An empty p= is a revoked key (RFC 6376 3.6.1).
// Does not: read key files (dkim/record.hpp txt_value_of_file does) or query DNS.
#include "splitmail/dkim/record.hpp"

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace splitmail::provision::check {

// The tag-list syntax (RFC 6376 3.2) is common/dkim's: dkim::parse_tag_list.
using splitmail::dkim::parse_tag_list;

enum class dkim_match {
    same,      // same key type and public key
    different, // another key (or key type) is published
    revoked,   // p= is empty
    not_dkim,  // not a DKIM key record (no p=, v= other than DKIM1, malformed)
};

// local: our record value ("v=DKIM1; k=rsa; p=..."); published: the joined TXT value.
dkim_match compare_dkim(std::string_view local, std::string_view published);

} // namespace splitmail::provision::check
