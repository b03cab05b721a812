#pragma once
// RFC 2047 encoded words ("=?charset?B|Q?text?=") in header text, decoded to UTF-8: for IMAP
// SEARCH SUBJECT/FROM/TO/CC/BCC/HEADER and SORT (RFC 3501 6.4.4, RFC 9051 6.4.4, RFC 5256: a
// webmail searching "Müller" must find "=?iso-8859-1?q?M=FCller?="), and for the relay's
// author check (an address hidden in an encoded display name, relay/submission/author.hpp).
//
// Guarantees: any input decodes, in time linear in its length (each "=?" looks ahead at most
// `max_word` characters); a malformed word is left as written. Charsets UTF-8 and US-ASCII are
// copied; any other goes through iconv(3) (ISO-8859-*, Windows-125x, KOI8-R, UTF-16, ...),
// octets it cannot convert becoming U+FFFD; an RFC 2231 language suffix ("utf-8*de") is
// ignored. A word in a charset iconv does not know is left as written, or - with
// `unknown_charset::octets`, for checks that must see what any reader might be shown - decoded
// to its octets. "B" is decoded laxly (smtp::decode_base64_lax). White space between two
// adjacent encoded words is dropped (RFC 2047 6.2).
// Does not: validate the decoded UTF-8, or decode anything outside encoded words (raw 8-bit
// header text is passed through as it is).
#include <cstddef>
#include <string>
#include <string_view>

namespace splitmail::text::encoded_words {

inline constexpr std::size_t max_word = 1024; // lax: RFC 2047 2 says 75, mailers exceed it

enum class unknown_charset { keep_word, octets };

std::string decode(std::string_view text, unknown_charset unknown = unknown_charset::keep_word);

} // namespace splitmail::text::encoded_words
