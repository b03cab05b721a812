#pragma once
// DKIM key records in DNS (RFC 6376 3.6.1): the tag list we publish for a key, and the tag-list
// syntax (RFC 6376 3.2) for reading published ones. One copy for `splitmail dkim txt`,
// `dns plan` and `check`.
//
// Records we make:
//     v=DKIM1; k=rsa; p=<base64 DER SubjectPublicKeyInfo>      (RFC 6376 3.6.1)
//     v=DKIM1; k=ed25519; p=<base64 of the raw 32-octet key>   (RFC 8463 4.2)
// They hold no '"' or '\\', so they need no escaping in a zone file.
// Does not: split values into 255-octet strings (a DNS matter: provision's txt_strings), or
// query DNS.
#include <openssl/types.h>

#include <expected>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace splitmail::dkim {

// The record value for the public half of `key` (RSA or Ed25519).
std::expected<std::string, std::string> txt_value(const EVP_PKEY* key);

// The record value for the private key in `key_file`; the error names the file.
std::expected<std::string, std::string> txt_value_of_file(const std::filesystem::path& key_file);

// RFC 6376 3.2 tag-list: "v=DKIM1; k=rsa; p=..." -> {v: DKIM1, k: rsa, p: ...}. Values keep
// inner spaces; white space around tags and values is dropped; a trailing ';' is allowed.
// nullopt for a malformed list (dkim/tag_list.hpp's parse_tags() decides: a tag without '=',
// a duplicate tag, a bad tag name or value character, an empty tag-spec). Linear in the input.
std::optional<std::map<std::string, std::string>> parse_tag_list(std::string_view text);

} // namespace splitmail::dkim
