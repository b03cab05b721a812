#pragma once
// RFC 5322 3.4 address lists as IMAP sees them: the ENVELOPE address structures (RFC 3501
// 7.4.2, RFC 9051 7.5.2) and the text SEARCH FROM/TO/CC/BCC compares (RFC 3501 6.4.4).
//
// Guarantees: any input parses (garbage yields fewer or odd addresses, never an error), in
// one linear pass. CFWS (RFC 5322 3.2.2: white space and comments) is not part of an
// address: "<user (c)@ (c) example.org>" is mailbox "user", host "example.org". Groups
// ("team: a@x, b@y;") are a start marker, their members and an end marker, also when empty
// or when the ';' is missing. A source route "<@a,@b:user@host>" is kept as adl "@a,@b".
// A mailbox without a display name takes its personal name from a comment after it
// ("user@host (Real Name)"), as clients expect.
// Does not: decode RFC 2047 encoded words (encoded_words.hpp), or validate addresses.
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::home::imap::address {

struct entry {
    enum class kind { mailbox, group_start, group_end };
    kind k = kind::mailbox;
    std::string name;    // display name (mailbox) or group name (group_start); may be empty
    std::string route;   // source route, "@a,@b"; empty when none
    std::string mailbox; // local part, unquoted
    std::string host;    // domain; empty when the address has none
};

std::vector<entry> parse_list(std::string_view value);

// What SEARCH FROM/TO/CC/BCC match besides the raw field: each mailbox as
// "name <mailbox@host>" (or "mailbox@host"), group names as "name:", joined by ", ".
std::string search_text(const std::vector<entry>& list);

} // namespace splitmail::home::imap::address
