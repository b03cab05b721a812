#pragma once
// The I/O half of the "scanners" check (scanners.hpp): one short blocking request/answer
// exchange with a local scanner, over TCP ("host:port", "[v6]:port") or a unix socket ("/path").
//
// Guarantees: ONE deadline covers the whole exchange (name lookup, connect, send, every read):
// a scanner that accepts and never answers costs at most `limit`; at most `max_answer` octets
// are kept. Name lookup: IP literals and "localhost" need none; other names go to getaddrinfo
// on a helper thread that is abandoned (not waited for) when the deadline passes.
// Does not: retry, or parse the answer beyond asking `complete` whether it is whole.
#include <chrono>
#include <expected>
#include <functional>
#include <string>
#include <string_view>

namespace splitmail::provision::check {

// The answer read until `complete(answer)`, the peer's close, or `max_answer` octets; the
// error says what failed ("connection refused", "no answer within 5 s", ...).
std::expected<std::string, std::string>
scanner_exchange(const std::string& address, std::string_view request,
                 std::chrono::milliseconds limit, std::size_t max_answer,
                 const std::function<bool(std::string_view)>& complete);

} // namespace splitmail::provision::check
