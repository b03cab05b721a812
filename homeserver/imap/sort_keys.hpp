#pragma once
// Sort values of a message for SORT (RFC 5256 2 and 3, RFC 5957 SORT=DISPLAY), from its raw
// header fields: the base subject, the sent date, the sort value of an address list. Pure
// functions; the values are made once per message and cached (header_cache.hpp).
//
// Guarantees: any input gives a value, in time linear in its length (the base-subject loop
// only ever moves its two ends inwards). Strings come out in the i;ascii-casemap collation
// form (ASCII letters upper-cased, RFC 4790 9.2), so comparing sort values is comparing
// octets, which is what RFC 5256 asks of I18NLEVEL=1 servers.
// Does not: collate beyond ASCII (non-ASCII letters compare by their UTF-8 octets).
#include "imap/address.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::home::imap::sort_keys {

// RFC 5256 2.1: the base subject of a Subject field (RFC 2047 words decoded to UTF-8, white
// space runs as one space, "Re:", "Fwd:", "[blob]" leaders, "(fwd)" trailers and
// "[fwd: ...]" wrappers removed), upper-cased. `reply` (THREAD=ORDEREDSUBJECT, 2.1 note) is
// set when something of the kind "Re:"/"Fw:"/"(fwd)"/"[fwd: ]" was removed.
std::string base_subject(std::string_view subject, bool* reply = nullptr);

// RFC 5256 2.2 / RFC 5322 3.3: a Date field as seconds since the epoch in UTC; nullopt when it
// cannot be parsed (the caller then uses INTERNALDATE). Accepts the obsolete forms of RFC
// 5322 4.3 (two-digit years, zone names, comments, missing seconds or day of week).
std::optional<std::int64_t> sent_date(std::string_view date);

// RFC 5256 3 FROM/TO/CC: the addr-mailbox (local part) of the first address, upper-cased;
// "" when there is none.
std::string first_mailbox(const std::vector<address::entry>& list);
// RFC 5957 3: DISPLAYFROM/DISPLAYTO: the display name of the first address (encoded words
// decoded) when not empty, else "mailbox@host" (or the mailbox alone), upper-cased; "" when
// there is no address.
std::string first_display(const std::vector<address::entry>& list);

// RFC 5256 REFERENCES: the message ids ("<...>", brackets and white space removed) of a
// Message-ID, References or In-Reply-To field, in order; only the last `keep` are returned
// (a References field may name thousands). Empty ids are skipped.
std::vector<std::string> message_ids(std::string_view field, std::size_t keep);

// i;ascii-casemap form of `s`.
std::string casemap(std::string_view s);

} // namespace splitmail::home::imap::sort_keys
