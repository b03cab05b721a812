#pragma once
// The DKIM body hash (RFC 6376 3.7, bh=): SHA-256 of the relaxed-canonicalized body, computed
// as the body streams by, so a 25 MB message is hashed from its spool file without a copy.
//
// Guarantees: the digest depends only on the octets fed, never on how they were chunked.
// Does not: support l= (body length limits are a known DKIM weakness; we never emit l=).
#include "dkim/canon.hpp"

#include <array>
#include <cstdint>
#include <memory>
#include <string_view>

namespace splitmail::relay::dkim {

using sha256_digest = std::array<unsigned char, 32>;

class body_hasher {
public:
    body_hasher();
    ~body_hasher();
    body_hasher(const body_hasher&) = delete;
    body_hasher& operator=(const body_hasher&) = delete;

    void update(std::string_view chunk); // body octets, any chunking
    sha256_digest finish();              // call once; the hasher is spent afterwards
    std::uint64_t canonical_length() const { return canon_.emitted(); }

private:
    struct impl;
    std::unique_ptr<impl> impl_;
    body_canonicalizer canon_;
};

// One-shot form for a body already in memory (or mapped).
sha256_digest body_hash(std::string_view body);

} // namespace splitmail::relay::dkim
