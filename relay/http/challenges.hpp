#pragma once
// The relay's port 80 (issue 19, "http-01 on the relay"): answers ACME http-01 validation
// requests, GET/HEAD /.well-known/acme-challenge/<token>, from the files `splitmail cert obtain
// --http-webroot DIR` writes into http.challenge_dir, so certificates are obtained and renewed
// while the relay keeps port 80 (MTA-STS and autoconfig will share this listener later).
//
// Guarantees: the answer is acme::http01_answer's (a pure function, unit-tested and fuzzed:
// 200 with the file's key authorization for a valid token, 404 for anything else, 405 for
// other methods, 400 for an unreadable head) and a token is only ever a base64url name in
// that one directory (no path, no symlink, a regular file of at most 4 KiB); a request head
// is at most 8 KiB (more: 431, RFC 6585) and must arrive within `head_timeout` of the accept,
// whatever trickles in (else the connection is closed without an answer);
// one request per connection, closed after its answer; one log line per answer (info for
// challenge paths, debug for the rest: scanners).
// Does not: TLS, keep-alive, or serve any other file.
#include "splitmail/net/connection.hpp"

#include <atomic>
#include <cstdint>
#include <filesystem>

namespace splitmail::relay {

struct http_options {
    std::filesystem::path challenge_dir;
    net::clock::duration head_timeout = std::chrono::seconds(5);
    std::atomic<std::uint64_t> next_id{1}; // connection ids in the log ("H1", "H2", ...)
};

inline constexpr std::size_t http_max_head = 8192;

// Serves one accepted connection: reads the request head, answers, returns (the server
// closes the connection).
net::asio::awaitable<void> serve_http(net::connection& c, http_options& o);

} // namespace splitmail::relay
