#pragma once
// DKIM verification of one message (RFC 6376 6, RFC 8463, RFC 8301) as a pure state machine:
// the header block in, body chunks in as they arrive, key records in (the caller queries DNS),
// one result per signature out. No I/O and no Asio: the SMTP path drives it
// (relay/sender_auth/), tests drive it with literal key records.
//
//     message_verifier v(header_block, {.max_signatures = 5, .now = unix_seconds});
//     v.body(chunk)...;  v.finish_body();
//     for (auto& q : v.key_queries()) v.key(q.index, answer_for(q.name));
//     for (auto& r : v.results()) ...
//
// Guarantees:
//  - the DKIM-Signature fields are taken top-down, at most max_signatures of them (the rest are
//    counted in skipped(), never checked: a message cannot make us do unbounded crypto or DNS);
//  - the header data each signature covers is built and hashed when the header block arrives
//    (so neither the block nor the data is kept), and each signature's body hash is computed
//    from the chunks as they come (its own canonicalization and l=); memory per signature is
//    the parsed field, a 32-octet digest and a hash state, whatever the message size;
//  - results, with the RFC 8601 2.7.1 meaning:
//      pass       the signature verified;
//      fail       it did not: body hash or signature mismatch, x= in the past, rsa-sha1 or an
//                 RSA key under 1024 bits (RFC 8301 3.1/3.2), body shorter than l=;
//      neutral    the field cannot be read (tag-list syntax, v=, unknown a= or c=, bad base64);
//      permerror  readable but unacceptable: h= without From, i= outside d=, no key record
//                 (NXDOMAIN / no TXT), revoked or malformed key, k= not matching a=, t=s key
//                 with an i= subdomain;
//      temperror  the key lookup failed (SERVFAIL, timeout, no answer before the deadline);
//    each with a reason for the Authentication-Results comment and the log;
//  - l= is honoured (only that much body is hashed) and the reason says how much of the body
//    it covered ("l=N of M octets"), so a reader can see appended, unsigned content;
//  - a signature decided before DNS (syntax, sha1, expiry, body hash) asks for no key.
// Does not: query DNS, evaluate DMARC alignment, or use t= (a future t= is accepted).
#include "dkim/body_hash.hpp"
#include "dkim/key_record.hpp"
#include "dkim/signature.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay::dkim {

enum class result { pass, fail, neutral, temperror, permerror };
std::string_view to_string(result r);

struct signature_result {
    result code = result::neutral;
    std::string reason;
    std::string domain;                  // d= ("" when the field could not be read)
    std::string selector;                // s=
    std::string algorithm;               // a= as written
    std::string b_prefix;                // first 8 characters of b= (RFC 6008 header.b)
    std::string auid;                    // i= (or "@" d=)
    std::optional<std::uint64_t> length; // l=
};

struct key_answer {
    enum class status { ok, nxdomain, no_data, temp_error } st = status::temp_error;
    std::vector<std::string> txt; // each TXT record, its strings joined
};

struct verify_options {
    std::size_t max_signatures = 5;
    std::int64_t now = 0; // unix seconds, for x=
};

struct key_query {
    std::size_t index; // into results()
    std::string name;  // selector._domainkey.domain
};

class message_verifier {
public:
    message_verifier(std::string_view header_block, const verify_options& opt);
    ~message_verifier();
    message_verifier(const message_verifier&) = delete;
    message_verifier& operator=(const message_verifier&) = delete;

    void body(std::string_view chunk);
    void finish_body(); // once, after the last chunk (the body may be empty)

    // Signatures still waiting for their key (after finish_body()).
    std::vector<key_query> key_queries() const;
    void key(std::size_t index, const key_answer& answer);
    // Any signature still waiting gets temperror (the lookups ran out of time).
    void give_up(std::string_view why);

    const std::vector<signature_result>& results() const { return results_; }
    std::size_t skipped() const { return skipped_; }
    std::size_t size() const { return results_.size(); }

private:
    struct pending;
    void decide(std::size_t i, result code, std::string reason);
    std::vector<signature_result> results_;
    std::vector<std::unique_ptr<pending>> pending_; // parallel to results_; null when decided
    std::size_t skipped_ = 0;
    bool body_done_ = false;
};

// The raw signature check (RFC 6376 3.3, RFC 8463 3): RSASSA-PKCS1-v1_5 SHA-256, or Ed25519
// over SHA-256(data); verify_digest() takes SHA-256(data) (what the verifier keeps).
sha256_digest header_digest(std::string_view data);
bool verify_digest(const public_key& key, sig_algorithm alg, const sha256_digest& digest,
                   std::string_view signature);
bool verify_data(const public_key& key, sig_algorithm alg, std::string_view data,
                 std::string_view signature);

} // namespace splitmail::relay::dkim
