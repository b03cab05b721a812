#pragma once
// The DKIM tag-list grammar (RFC 6376 3.2), one parser for every reader: the relay's verifier
// (DKIM-Signature fields, key records from DNS) and `check` / `dns plan` (our published
// records, through record.hpp's parse_tag_list).
//
// Guarantees: strict syntax: tag names are ALPHA *(ALPHA / DIGIT / "_"), values printable
// ASCII except ';' with FWS inside; a duplicate tag, a tag without '=', an empty tag-spec
// before a ';', or more than max_tags tags make the whole list invalid (3.2: "MUST be treated
// as invalid"); a trailing ';' is allowed. Every view points into the caller's text (no copy);
// value_begin/value_end locate a value with its surrounding FWS, up to the ';' that ends it
// (what RFC 6376 3.7 deletes for b=). Linear in the input.
// Does not: interpret any tag.
#include <cstddef>
#include <expected>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::dkim {

struct tag {
    std::string_view name;
    std::string_view value;      // FWS around it removed (inner FWS kept)
    std::size_t value_begin = 0; // offset just after '='
    std::size_t value_end = 0;   // offset of the ';' ending the tag-spec, or the text's end
};

// Limits so a hostile list cannot cost more than a constant.
inline constexpr std::size_t max_tags = 64;

std::expected<std::vector<tag>, std::string> parse_tags(std::string_view text);

} // namespace splitmail::dkim
