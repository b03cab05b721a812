#pragma once
// The flags and keywords in a Maildir file name's info part (":2," followed by letters,
// cr.yp.to/proto/maildir.html; keywords as Dovecot's lower-case letters a..z, numbered by the
// folder's dovecot-keywords file).
// Guarantees: pure; other info letters of a name are kept; letters are written in ASCII order.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace splitmail::home::maildir {

enum flag_bits : std::uint8_t {
    flag_answered = 1, // R
    flag_flagged = 2,  // F
    flag_deleted = 4,  // T
    flag_seen = 8,     // S
    flag_draft = 16,   // D
};

constexpr std::size_t max_keywords = 26; // letters a..z (Dovecot Maildir)

std::uint8_t flags_of_filename(std::string_view file);
std::uint32_t keywords_of_filename(std::string_view file); // bit i = letter 'a'+i
// New file name with `flags` and `keywords` in its ":2," info (other letters of `file` kept).
std::string with_flags(std::string_view file, std::uint8_t flags, std::uint32_t keywords);

} // namespace splitmail::home::maildir
