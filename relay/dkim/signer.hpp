#pragma once
// DKIM signer (RFC 6376, RFC 8463): one DKIM-Signature field per key, relaxed/relaxed, over the
// headers chosen by headers_to_sign() (From oversigned), with t= and the body hash bh=.
//
// Use: the relay signs each outgoing message once, with an RSA-SHA256 and an Ed25519-SHA256
// key of the sender's domain, and stores the returned text as a prefix in front of the queued
// message: the message itself is never rewritten.
//     auto keys = dkim::load_keys(dir, "example.test", {"2026-rsa", "2026-ed25519"});
//     dkim::signer s(std::move(*keys));
//     auto prefix = s.sign(message, unix_seconds);          // whole message in memory, or
//     dkim::body_hasher bh; bh.update(chunk)...;             // streaming the body from disk
//     auto prefix = s.sign_header(header_section, bh.finish(), unix_seconds);
//
// Guarantees:
//  - Each field is "DKIM-Signature: v=1; a=...; c=relaxed/relaxed; d=; s=; t=; h=; bh=; b="
//    folded so that no line exceeds 76 columns (below RFC 5322 2.1.1's 78), each field ending
//    in CRLF. RSA fields come before Ed25519 fields (the topmost is the one every verifier
//    can check; some verify only the first).
//  - Signatures are deterministic for given keys, message and t (PKCS#1 v1.5 and Ed25519).
//  - a=ed25519-sha256 signs the SHA-256 digest of the header data with PureEdDSA (RFC 8463 3).
//  - No OpenSSL deprecated API: EVP only.
// Does not: pick the key for a message (the SMTP driver does, through plan_outgoing in
// relay/submission/outgoing.hpp: the From: domain's keys), add l=, x=,
// i= or z=, or verify anything.
#include "dkim/body_hash.hpp"
#include "dkim/key.hpp"
#include "dkim/message.hpp"

#include <cstdint>
#include <expected>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay::dkim {

class signer {
public:
    explicit signer(std::vector<signing_key> keys);

    // Signs a whole message (header, empty line, body). Returns the DKIM-Signature fields to
    // put in front of it; an error if the message has no From: or a key fails to sign.
    std::expected<std::string, std::string> sign(std::string_view message,
                                                 std::int64_t timestamp) const;

    // Same, given the header section (as split_message() returns it) and the body hash from a
    // body_hasher that was fed the body.
    std::expected<std::string, std::string> sign_header(std::string_view header_section,
                                                        const sha256_digest& body_hash,
                                                        std::int64_t timestamp) const;

    const std::vector<signing_key>& keys() const { return keys_; }

private:
    std::vector<signing_key> keys_;
};

// ---- building blocks, public for tests and for tools ----

struct signature_tags {
    algorithm alg = algorithm::rsa_sha256;
    std::string domain;
    std::string selector;
    std::int64_t timestamp = 0;
    std::vector<std::string> signed_headers; // h=, in order
    sha256_digest body_hash{};
};

// The folded field up to and including "b=" (no value, no CRLF): what is hashed (RFC 6376 3.7).
std::string signature_field_without_b(const signature_tags& tags);

// Appends the base64 signature to signature_field_without_b()'s result, folded, plus CRLF.
std::string complete_signature_field(std::string field_without_b, std::string_view b64);

// The raw signature over the header data: RSASSA-PKCS1-v1_5 with SHA-256 (RFC 6376 3.3.1), or
// Ed25519 over SHA-256(data) (RFC 8463 3).
std::expected<std::string, std::string> sign_data(const signing_key& key, std::string_view data);

std::string base64(std::string_view bytes);

} // namespace splitmail::relay::dkim
