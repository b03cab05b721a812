#pragma once
// RFC 2047 encoded words ("=?charset?B|Q?text?=") in header text, decoded to UTF-8 for SEARCH
// SUBJECT/FROM/TO/CC/BCC/HEADER (RFC 3501 6.4.4, RFC 9051 6.4.4: a webmail searching "Müller"
// must find "=?iso-8859-1?q?M=FCller?=").
//
// Guarantees: any input decodes, in time linear in its length (each "=?" looks ahead at most
// `max_word` characters); a word that is malformed, or in a charset iconv does not know, is
// left as written. Charsets UTF-8 and US-ASCII are copied; any other goes through iconv(3)
// (ISO-8859-*, Windows-125x, KOI8-R, ...); an RFC 2231 language suffix ("utf-8*de") is ignored.
// White space between two adjacent encoded words is dropped (RFC 2047 6.2).
// Does not: validate the decoded UTF-8, or decode anything outside encoded words (raw 8-bit
// header text is passed through as it is).
#include <cstddef>
#include <string>
#include <string_view>

namespace splitmail::home::imap::encoded_words {

inline constexpr std::size_t max_word = 1024; // lax: RFC 2047 2 says 75, mailers exceed it

std::string decode(std::string_view text);

} // namespace splitmail::home::imap::encoded_words
