#pragma once
// Base64 (RFC 4648 section 4, with padding) for SASL (RFC 4954 AUTH, RFC 4616 PLAIN, IMAP
// AUTHENTICATE) and the private XAUTH command. Pure functions; decode refuses anything that is
// not canonical padded base64 (bad characters, bad length, data after '=').
#include <optional>
#include <string>
#include <string_view>

namespace splitmail::smtp {

std::optional<std::string> decode_base64(std::string_view in);
// Value 0..63 of a base64 alphabet character, -1 for anything else (for the lenient decoders
// of MIME bodies and password hashes, which build on it).
int base64_digit(char c);
// The lax decoder of MIME bodies (RFC 2045 6.8) and RFC 2047 "B" words: never fails.
// Characters outside the alphabet (line breaks, spaces, "!", NUL...) are skipped; "=" ends the
// current 4-character group, and decoding resumes after it, so concatenated blocks ("QQ==QkM=")
// decode to their concatenation; a trailing incomplete group yields the whole octets it holds
// (2 characters: 1 octet, 3 characters: 2 octets), a single leftover character none.
std::string decode_base64_lax(std::string_view in);
std::string encode_base64(std::string_view in);

} // namespace splitmail::smtp
