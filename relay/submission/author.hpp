#pragma once
// Who a submitted message says it is from (issue 11 item 4): the From: and Sender: fields of
// the header block, parsed as RFC 5322 address lists, checked against the addresses an
// authenticated user may send as (the same list, and the same comparison, as MAIL FROM).
//
// Guarantees: every mailbox of From:/Sender: is found however it is written: display names,
// quoted strings, nested comments, groups, obs-route angle addresses, obs-phrase / obs-local-part,
// folded lines (RFC 5322 3.2-3.4, 4.4). Free text a reader sees next to an address (display
// names, comments, group names; RFC 2047 encoded-words decoded) is searched for address-like
// text, so `"alice@x" <bob@x>` and `=?utf-8?q?alice=40x?= <bob@x>` are caught. More than one
// From: or Sender: field is refused (RFC 5322 3.6: at most one of each). Every loop is linear in
// the header size; nesting is a counter, not recursion.
// Does not do: IDNA or Unicode confusables beyond the full-width commercial at; charset
// conversion of encoded-words (the decoded octets are searched as they are); adding a From:
// (outgoing.hpp does that when the session allows it).
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay {

// What an address-list field names.
struct address_list {
    std::vector<std::string> addresses; // local@domain, ASCII lower-cased (as MAIL FROM)
    std::vector<std::string> texts;     // display names, comments, group names (2047-decoded)
};

// Parses the value of an address-list field (after the colon; CRLF+WSP folds allowed).
// nullopt: not an address list.
std::optional<address_list> parse_address_list(std::string_view value);

// RFC 2047 encoded-words in `text` decoded to UTF-8 (common/text/encoded_words.hpp), a word in
// a charset iconv does not know to its octets; whitespace between two adjacent encoded-words
// dropped (RFC 2047 6.2). Malformed words are left as they are.
std::string decode_encoded_words(std::string_view text);

// Address-like runs ("local@domain.tld", spaces around the '@' tolerated, U+FF20 and U+FE6B
// count as '@') in free text, lower-cased.
std::vector<std::string> addresses_in_text(std::string_view text);

struct author_verdict {
    enum class status {
        ok,           // every author address is the user's
        missing_from, // no From: field at all (the caller decides: add one or refuse)
        refused,      // `text` says why, naming the address
    };
    status st = status::ok;
    std::string text; // reply text when refused (printable ASCII, bounded)
};

// Checks the header block of `message` (the header ends at the first empty line): From: once,
// Sender: at most once, and every address in them, and every address-like text in their
// display names and comments, one of `allowed` (lower-case). `user` is named in the text.
author_verdict check_authors(std::string_view message, std::span<const std::string> allowed,
                             std::string_view user);

} // namespace splitmail::relay
