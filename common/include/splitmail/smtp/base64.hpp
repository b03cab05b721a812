#pragma once
// Base64 (RFC 4648 section 4, with padding) for SASL (RFC 4954 AUTH, RFC 4616 PLAIN, IMAP
// AUTHENTICATE) and the private XAUTH command. Pure functions; decode refuses anything that is
// not canonical padded base64 (bad characters, bad length, data after '=').
#include <optional>
#include <string>
#include <string_view>

namespace splitmail::smtp {

std::optional<std::string> decode_base64(std::string_view in);
std::string encode_base64(std::string_view in);

} // namespace splitmail::smtp
