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
std::string encode_base64(std::string_view in);

} // namespace splitmail::smtp
