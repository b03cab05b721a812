#pragma once
// Pure parsing and serialisation of deSEC API bodies and headers (no I/O, no libcurl).
//
// Guarantees: every function accepts arbitrary bytes and returns a value or an error; none
// throws and none crashes (there is a fuzz target: tests/fuzz/ddns_desec_json_fuzz.cpp).
// Unknown JSON fields are ignored, as the API may add fields at any time.
// Does not: validate record contents against their type.
#include <chrono>
#include <expected>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "splitmail/desec/types.hpp"

namespace splitmail::desec {

std::expected<rrset, std::string> parse_rrset(std::string_view body);
std::expected<std::vector<rrset>, std::string> parse_rrset_list(std::string_view body);
std::expected<domain_info, std::string> parse_domain(std::string_view body);
std::expected<std::vector<domain_info>, std::string> parse_domain_list(std::string_view body);

// Build the error value for a non-2xx answer. 400 bodies are either an object of field errors
// (`{"ttl": ["..."]}`), `{"detail": "..."}`, or for bulk requests a list with one object per
// request item in request order (`[{}, {"records": ["..."]}]`); all become readable text.
error parse_error_response(int status, std::string_view body, std::string_view retry_after);

// RFC 9110 10.2.3: Retry-After is delay-seconds or an HTTP-date. deSEC sends seconds; a date
// or garbage gives nullopt (the caller then falls back to its own backoff).
std::optional<std::chrono::seconds> parse_retry_after(std::string_view value);

// RFC 8288 Link header: the target of rel="next", if any (deSEC pagination).
std::optional<std::string> parse_link_next(std::string_view link_header);

// JSON array body for bulk POST/PATCH/PUT. ttl 0 is omitted (PATCH keeps the TTL).
std::string serialize_rrsets(std::span<const rrset> items);

} // namespace splitmail::desec
