#pragma once
// The DKIM body hash (RFC 6376 3.7, bh=): SHA-256 of the canonicalized body (relaxed for
// signing; relaxed or simple when verifying), computed as the body streams by, so a 25 MB
// message is hashed from its spool file, or from DATA as it arrives, without a copy.
//
// Guarantees: the digest depends only on the octets fed, never on how they were chunked. With
// a length limit (a verified signature's l=, RFC 6376 3.5) only the first `limit` canonical
// octets are hashed; canonical_length() still counts them all, so the caller can tell a body
// shorter than l= (a failure) from one longer (content after l= is unsigned).
// Does not: emit l= when signing (a known DKIM weakness), or hash with SHA-1 (RFC 8301).
#include "dkim/canon.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

namespace splitmail::relay::dkim {

using sha256_digest = std::array<unsigned char, 32>;

class body_hasher {
public:
    explicit body_hasher(canon mode = canon::relaxed,
                         std::optional<std::uint64_t> limit = std::nullopt);
    ~body_hasher();
    body_hasher(const body_hasher&) = delete;
    body_hasher& operator=(const body_hasher&) = delete;

    void update(std::string_view chunk); // body octets, any chunking
    sha256_digest finish();              // call once; the hasher is spent afterwards
    std::uint64_t canonical_length() const { return canon_.emitted(); }

private:
    void add_limited(std::string_view s);
    struct impl;
    std::unique_ptr<impl> impl_;
    std::optional<std::uint64_t> left_; // octets still to hash under a limit
    body_canonicalizer canon_;
};

// One-shot form for a body already in memory (or mapped).
sha256_digest body_hash(std::string_view body);

} // namespace splitmail::relay::dkim
