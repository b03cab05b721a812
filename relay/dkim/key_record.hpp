#pragma once
// The DKIM key record a verifier fetches from `selector._domainkey.domain` TXT (RFC 6376 3.6.1,
// RFC 8463 4.2): parsing, and turning p= into a public key.
//
// Guarantees:
//  - parse_key_record() accepts exactly the RFC 6376 3.6.1 tag-list: v= (if present, first and
//    "DKIM1"), k= (rsa, ed25519; default rsa), p= (base64; empty = revoked, 3.6.1), t= flags
//    (y testing, s strict: i= must equal d=), h= (acceptable hashes; must allow sha256 when
//    present), s= (service types; "email" or "*"); unknown tags and flags are ignored;
//  - load_public_key(): k=rsa takes a SubjectPublicKeyInfo (what every signer publishes) or a
//    bare RSAPublicKey (the letter of 3.6.1); k=ed25519 the raw 32-octet key (RFC 8463 4.2);
//    the error says what is wrong; an RSA key's size is reported for RFC 8301 3.2.
// Does not: query DNS (the caller does, with its deadline), or cache.
#include <openssl/types.h>

#include <expected>
#include <memory>
#include <string>
#include <string_view>

namespace splitmail::relay::dkim {

enum class key_type { rsa, ed25519 };

struct key_record {
    key_type type = key_type::rsa;
    std::string public_key; // p= decoded; empty: the key was revoked
    bool strict = false;    // t=s
    bool testing = false;   // t=y
};

std::expected<key_record, std::string> parse_key_record(std::string_view txt);

struct public_key {
    std::shared_ptr<EVP_PKEY> pkey;
    int bits = 0; // RSA modulus size
};

std::expected<public_key, std::string> load_public_key(const key_record& rec);

} // namespace splitmail::relay::dkim
