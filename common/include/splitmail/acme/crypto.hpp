#pragma once
// The cryptography of ACME (RFC 8555) on OpenSSL: the ECDSA P-256 keys (account key and
// certificate key), JWS signing with ES256 (RFC 7515, RFC 7518 3.4), the JWK thumbprint
// (RFC 7638), key authorizations (RFC 8555 8.1) and the dns-01 TXT value (8.4), the CSR for
// finalize (7.4), and reading the dates of an issued certificate.
//
// Guarantees: deterministic encodings (the JWK members in the lexicographic order RFC 7638
// 3.2 requires, base64url without padding, RFC 7515 2); ES256 signatures are the 64-octet
// R||S form (RFC 7518 3.4), not DER. Keys loaded from PEM must be EC P-256: anything else is
// an error naming what was found. Names for a CSR are checked to be DNS names (an optional
// leading "*." for a wildcard), so nothing a caller passes reaches OpenSSL's config parser raw.
// Does not: any I/O (files are the caller's: see client.hpp load_or_create_key).
#include <chrono>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "splitmail/acme/types.hpp"

typedef struct evp_pkey_st EVP_PKEY;

namespace splitmail::acme {

std::string base64url(std::string_view bytes);

class ec_key {
public:
    static result<ec_key> generate();                     // a fresh P-256 key
    static result<ec_key> from_pem(std::string_view pem); // PKCS#8 or SEC1 private key

    std::string private_pem() const; // PKCS#8 PEM
    // RFC 7517 public JWK {"crv":"P-256","kty":"EC","x":...,"y":...}: exactly this member order
    // and no whitespace, which is also the RFC 7638 thumbprint input.
    std::string jwk_json() const;
    std::string thumbprint() const; // RFC 7638: base64url(SHA-256(jwk_json()))
    // ES256 over `data`: 64 octets R||S.
    result<std::string> sign_es256(std::string_view data) const;
    EVP_PKEY* native() const noexcept { return key_.get(); }

private:
    struct deleter {
        void operator()(EVP_PKEY* k) const noexcept;
    };
    explicit ec_key(EVP_PKEY* k) : key_(k, deleter{}) {}
    std::shared_ptr<EVP_PKEY> key_;
};

// A certificate's key: ECDSA P-256 (the default: small, fast, what TLSA "3 1 1" pins) or RSA
// (2048 bits or more, for peers that still lack ECDSA). Any ec_key converts to it.
enum class key_type { p256, rsa2048 };
// "p256" / "rsa2048" (also "ecdsa", "rsa"); nullopt for anything else.
std::optional<key_type> parse_key_type(std::string_view text);
std::string_view key_type_name(key_type t) noexcept; // "p256" / "rsa2048"

class cert_key {
public:
    cert_key(const ec_key& k); // NOLINT: every P-256 account-style key is a certificate key
    static result<cert_key> generate(key_type t);
    // PKCS#8/SEC1/PKCS#1 PEM of a P-256 or RSA (>= 2048 bits) private key; others are refused.
    static result<cert_key> from_pem(std::string_view pem);
    std::string private_pem() const; // PKCS#8 PEM
    key_type type() const noexcept { return type_; }
    EVP_PKEY* native() const noexcept { return key_.get(); }

private:
    cert_key(std::shared_ptr<EVP_PKEY> k, key_type t) : key_(std::move(k)), type_(t) {}
    std::shared_ptr<EVP_PKEY> key_;
    key_type type_;
};

// RFC 8555 6.2: the protected header names the key by account URL (`kid`) once the account
// exists; only newAccount (and revocation by certificate key) carries the `jwk` itself.
struct jws_header {
    std::string url;
    std::string nonce;
    std::string kid; // "" = embed the JWK
};

// The flattened JWS JSON serialization (RFC 7515 7.2.2) of `payload`, signed with `key`.
// `payload` "" is POST-as-GET (RFC 8555 6.3): the payload member is the empty string.
result<std::string> sign_jws(const ec_key& key, const jws_header& header, std::string_view payload);

// RFC 8555 8.1: token || '.' || base64url(JWK thumbprint of the account key).
std::string key_authorization(std::string_view token, std::string_view thumbprint);
// RFC 8555 8.4: the TXT value at _acme-challenge.<domain>: base64url(SHA-256(key authorization)).
std::string dns01_txt_value(std::string_view key_authorization);
// RFC 8555 8.3: the path the CA fetches over http on port 80.
std::string http01_path(std::string_view token);
// RFC 8555 8.1: a token is base64url, so it can be used as a path segment as it is; we also
// cap its length (the RFC asks for at least 128 bits; 256 characters is plenty).
bool valid_token(std::string_view token) noexcept;

// A DNS name we may put in a CSR: labels of [A-Za-z0-9-] (1..63, no leading/trailing '-'),
// at least two labels, at most 253 octets; "*." in front for a wildcard.
bool valid_dns_name(std::string_view name) noexcept;

// RFC 8555 7.4 / RFC 2986: a DER PKCS#10 request for `names` (all in subjectAltName; the first
// also as CN when it fits in 64 octets), signed with `cert_key`.
result<std::string> make_csr_der(const cert_key& key, std::span<const std::string> names);

struct cert_times {
    std::chrono::system_clock::time_point not_before, not_after;
};
// The validity of the first certificate of a PEM chain (the leaf).
result<cert_times> leaf_times(std::string_view chain_pem);
// The DNS names in the leaf's subjectAltName (lower case), in certificate order.
std::vector<std::string> leaf_dns_names(std::string_view chain_pem);
// RFC 9773 4.1: the ARI certificate identifier of the leaf: base64url(keyIdentifier of its
// Authority Key Identifier) "." base64url(its serial number's DER content octets). Error when the
// leaf has no AKI keyIdentifier (a self-signed certificate, say).
result<std::string> ari_cert_id(std::string_view chain_pem);
// The number of certificates in a PEM chain (0 when it holds none).
std::size_t count_certificates(std::string_view chain_pem);
// Whether the leaf of `chain_pem` certifies the public half of `key`.
bool leaf_matches_key(std::string_view chain_pem, const cert_key& key);

} // namespace splitmail::acme
