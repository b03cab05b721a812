#pragma once
// The relay's IMAP pass-through (issue 16, "mail clients from anywhere, even behind CGNAT"):
// a mail client connects to the relay's imap_proxy.listen (993); the relay opens a TCP
// connection to home through the tunnel, sends one PROXY protocol v2 header naming the client
// (common/proxy/v2.hpp) and then copies bytes both ways, untouched. TLS ends at home: the
// relay never sees a password or a message.
//
// Guarantees:
//   - memory per connection is two fixed buffers (buffer_size each), whatever the client or
//     home send: a direction writes what it read before it reads again (backpressure);
//   - home's TCP handshake must complete within connect_timeout (the client is then closed);
//   - a connection on which no byte moved either way for idle_timeout is closed; a write
//     blocked by a peer that does not read counts as no movement;
//   - half-close: when one side ends its sending (FIN), the other side is told (shutdown of
//     the sending direction) and the remaining direction keeps flowing until it ends too;
//     an error (reset) on either side closes both;
//   - one log line per connection when it ends: client, bytes each way, duration, and why it
//     ended; a failed connect to home is logged at warn.
// Does not: look at the bytes, apply TLS, count logins (home does, keyed on the real client
// it reads from the header), or retry home.
#include "splitmail/net/connection.hpp"

#include <atomic>
#include <cstdint>
#include <string>

namespace splitmail::relay {

struct pass_through_options {
    std::string home; // "ip:port" of home's PROXY-expecting listener
    net::clock::duration connect_timeout = std::chrono::seconds(5);
    net::clock::duration idle_timeout = std::chrono::minutes(31);
    net::clock::duration header_timeout = std::chrono::seconds(10); // writing the header
    std::atomic<std::uint64_t> next_id{1}; // connection ids in the log ("P1", "P2", ...)
};

inline constexpr std::size_t pass_through_buffer_size = 16 * 1024; // per direction

// Serves one accepted client connection until both directions have ended.
net::asio::awaitable<void> serve_pass_through(net::connection& client, pass_through_options& o);

} // namespace splitmail::relay
