#pragma once
// Parsers for what an ACME server (RFC 8555) sends: the directory, orders, authorizations,
// problem documents and the Retry-After header. Pure functions, no I/O; fuzzed by
// tests/fuzz/acme_json_fuzz.cpp.
//
// Guarantees: never throw; any input gives a value or an error text naming what is wrong.
// Lists are capped (identifiers, authorizations, challenges, subproblems), so a hostile
// server cannot make us allocate or loop without bound. Unknown members are ignored
// (RFC 8555 7.1: clients MUST ignore fields they do not recognise).
#include <chrono>
#include <expected>
#include <optional>
#include <string>
#include <string_view>

#include "splitmail/acme/types.hpp"

namespace splitmail::acme {

inline constexpr std::size_t max_list_items = 100; // identifiers, authorizations per order
inline constexpr std::size_t max_challenges = 16;
inline constexpr std::size_t max_subproblems = 32;

std::expected<directory, std::string> parse_directory(std::string_view json);
std::expected<order, std::string> parse_order(std::string_view json);
std::expected<authorization, std::string> parse_authorization(std::string_view json);
std::expected<challenge, std::string> parse_challenge(std::string_view json);
// The "status" member of an account object (RFC 8555 7.1.2).
std::expected<status, std::string> parse_account_status(std::string_view json);

// A problem document (RFC 8555 6.7): nullopt when the body is not a JSON object with a "type"
// string (an HTML error page from a proxy, say).
std::optional<problem> parse_problem(std::string_view json);

// RFC 9110 10.2.3: delay-seconds or an HTTP-date (IMF-fixdate), relative to `now`. A date in
// the past is zero seconds; garbage is nullopt. Capped at 7 days so a broken header cannot
// park renewal for longer than the certificate lives.
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value,
                                                      std::chrono::system_clock::time_point now);

// RFC 3339 date-time ("2025-01-02T04:00:00Z", fractions of a second ignored, "+01:00" offsets
// applied); nullopt when it is not one.
std::optional<std::chrono::system_clock::time_point> parse_rfc3339(std::string_view text);

// RFC 9773 4.2: a RenewalInfo object: its suggestedWindow (start < end) and explanationURL.
struct renewal_info {
    std::chrono::system_clock::time_point start, end;
    std::string explanation_url;
};
std::expected<renewal_info, std::string> parse_renewal_info(std::string_view json);

// The error for a non-2xx answer of the CA: a rateLimited problem is error_kind::rate_limited,
// other problems error_kind::server; the message names the request and the problem.
error error_from_response(std::string_view what, int status, std::string_view body,
                          std::optional<std::chrono::seconds> retry_after);

} // namespace splitmail::acme
