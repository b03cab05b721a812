#pragma once
// Reads one PROXY protocol v2 header (proxy/v2.hpp) from the start of an accepted connection.
//
// Guarantees: reads exactly the header's bytes and nothing after them (the client's TLS
// ClientHello stays in the socket for the handshake that follows); memory is a fixed
// max_header buffer; the whole header must arrive within `timeout`. On a PROXY command the
// connection's remote endpoint becomes the real client (net::connection::set_remote), so
// admission, the login brake and every log line that follows see the client, not the relay.
// Does not: decide whom to trust (the listener does, with source_policy) or close the
// connection.
#include "splitmail/net/connection.hpp"
#include "splitmail/proxy/v2.hpp"

#include <string>

namespace splitmail::proxy {

struct read_result {
    bool ok = false;
    std::string error; // !ok: why ("no PROXY protocol v2 signature", "timed out", ...)
    header value;
};

net::asio::awaitable<read_result> read_and_apply(net::connection& c, net::clock::duration timeout);

} // namespace splitmail::proxy
