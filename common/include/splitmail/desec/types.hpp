#pragma once
// Value types of the deSEC REST API (https://desec.readthedocs.io/): RRsets, domains, errors.
//
// Guarantees: plain values, no I/O. Records are kept in deSEC's presentation format exactly as
// the API returns or expects them (MX/CNAME targets end with a dot, TXT values carry their own
// quotes); nothing here rewrites them.
// Does not: validate record contents (the server does; see the fake in tests/fakes/desec/).
#include <chrono>
#include <cstdint>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::desec {

// One RRset. In bulk write bodies the apex is subname "" (deSEC refuses "@" there); an empty
// `records` list in a PATCH/PUT deletes the RRset.
struct rrset {
    std::string subname;              // "" = zone apex
    std::string type;                 // upper case: "A", "AAAA", "MX", ...
    std::uint32_t ttl = 0;            // 0 = not given (a PATCH may leave the TTL as it is)
    std::vector<std::string> records; // presentation format

    bool operator==(const rrset&) const = default;
};

// GET /domains/{name}/. minimum_ttl is the lowest TTL the API accepts for this domain.
struct domain_info {
    std::string name;
    std::uint32_t minimum_ttl = 0;
    std::string created;   // ISO 8601, as given
    std::string published; // may be empty
    std::string touched;   // may be empty
};

enum class error_kind {
    network,      // no HTTP answer: DNS, connect, timeout, reset (retry with backoff)
    tls,          // certificate verification or handshake failed (configuration, not transient)
    throttled,    // 429; retry_after says when (retry exactly then)
    server,       // 5xx (retry with backoff)
    unauthorized, // 401: token missing or invalid
    forbidden,    // 403: token not allowed for this operation (scoping policy)
    not_found,    // 404: unknown domain (or not owned by the token's account) or RRset
    bad_request,  // 400: validation; item_errors holds the per-item list of a bulk request
    protocol,     // an answer we do not understand (bad JSON, unexpected status)
};

std::string_view to_string(error_kind k) noexcept;

struct error {
    error_kind kind = error_kind::protocol;
    int status = 0;                                  // HTTP status, 0 when there was none
    std::optional<std::chrono::seconds> retry_after; // set for 429 (Retry-After header)
    std::string message;                             // human readable, safe to log (no token)
    // Bulk 400: one entry per item of the request, in request order; "" for items the server
    // found fine (deSEC answers `{}` for them).
    std::vector<std::string> item_errors;

    // Worth retrying later without a configuration change.
    bool retryable() const noexcept {
        return kind == error_kind::network || kind == error_kind::throttled ||
               kind == error_kind::server;
    }
};

template <class T>
using result = std::expected<T, error>;

} // namespace splitmail::desec
