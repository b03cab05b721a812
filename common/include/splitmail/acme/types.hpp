#pragma once
// Value types of the ACME client (RFC 8555): errors, problem documents, resources.
//
// Guarantees: plain values, no I/O. An ACME failure is an `error` whose message says what went
// wrong and, where the server sent a problem document (RFC 8555 6.7, RFC 7807), carries it
// whole; `retry_after` is set when the server said when to come back (Retry-After header).
// Does not: decide whether to retry (see acme/renewal.hpp and the client).
#include <chrono>
#include <expected>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::acme {

// Let's Encrypt's directories (https://letsencrypt.org/docs/staging-environment/): staging
// issues untrusted certificates under much higher rate limits, for trying a set-up out.
inline constexpr std::string_view letsencrypt_directory =
    "https://acme-v02.api.letsencrypt.org/directory";
inline constexpr std::string_view letsencrypt_staging_directory =
    "https://acme-staging-v02.api.letsencrypt.org/directory";

// RFC 8555 6.7 problem document. `type` is kept as sent ("urn:ietf:params:acme:error:...").
struct problem {
    std::string type;
    std::string detail;
    int status = 0;
    std::string identifier;           // subproblems name one ("dns:example.org")
    std::vector<problem> subproblems; // one level only (RFC 8555 6.7.1)

    // The last part of an ACME error URN ("badNonce"), or the whole type when it is not one.
    std::string_view short_type() const noexcept;
    // One line for logs and CLI messages: "rateLimited: too many certificates (HTTP 429); ...".
    std::string describe() const;
};

enum class error_kind {
    network,      // no HTTP answer (connect, timeout, reset): retry with backoff
    tls,          // the CA's certificate did not verify: configuration
    protocol,     // an answer we do not understand (bad JSON, missing member)
    server,       // a problem document or HTTP error from the CA (see `problem`)
    rate_limited, // urn:ietf:params:acme:error:rateLimited; retry_after says when
    validation,   // a challenge or the order became invalid (problem says why)
    timeout,      // polling gave up before the resource left pending/processing
    local,        // key, CSR or file trouble on our side
    solver,       // the challenge solver could not present its response
};

std::string_view to_string(error_kind k) noexcept;

struct error {
    error_kind kind = error_kind::protocol;
    std::string message; // safe to log
    std::optional<problem> detail;
    std::optional<std::chrono::seconds> retry_after;

    std::string text() const; // "KIND: message"
};

template <class T = void>
using result = std::expected<T, error>;

inline std::unexpected<error> fail(error_kind k, std::string message) {
    return std::unexpected(error{k, std::move(message), std::nullopt, std::nullopt});
}

// RFC 8555 7.1.6 statuses of orders, authorizations and challenges.
enum class status {
    pending,
    ready,
    processing,
    valid,
    invalid,
    expired,
    deactivated,
    revoked,
    unknown
};
status parse_status(std::string_view s) noexcept;
std::string_view to_string(status s) noexcept;

struct directory {
    std::string new_nonce, new_account, new_order, revoke_cert, key_change;
    std::string renewal_info; // RFC 9773 ARI, "" when the server does not offer it
    std::string terms_of_service;
    bool external_account_required = false;
};

struct identifier {
    std::string type; // "dns"
    std::string value;
    bool operator==(const identifier&) const = default;
};

struct order {
    status state = status::unknown;
    std::vector<identifier> identifiers;
    std::vector<std::string> authorizations; // URLs
    std::string finalize;
    std::string certificate; // set once valid
    std::optional<problem> error;
};

struct challenge {
    std::string type; // "http-01", "dns-01", ...
    std::string url;
    std::string token;
    status state = status::unknown;
    std::optional<problem> error;
};

struct authorization {
    identifier id;
    status state = status::unknown;
    bool wildcard = false;
    std::vector<challenge> challenges;
};

} // namespace splitmail::acme
