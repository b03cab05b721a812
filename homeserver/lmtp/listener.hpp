#pragma once
// One accepted LMTP connection, before the protocol: in `mtls` mode the TLS handshake from the
// first byte and the pin check of the relay's client certificate (SHA-256 of its DER form),
// then the LMTP driver. A connection whose certificate is not the pinned one is closed before
// any LMTP byte is sent (and logged with the offered fingerprint). On every transport the
// pairing secret (session_options::relay_secret, XSECRET) gates XAUTH, XDIRECTORY and mail.
#include "lmtp/driver.hpp"

#include "splitmail/net/connection.hpp"
#include "splitmail/net/tls.hpp"

#include <atomic>
#include <string>

namespace splitmail::home::lmtp {

struct listener_context {
    driver_context* driver = nullptr;
    net::tls_context tls;   // null: plain TCP
    std::string client_pin; // lower-case hex SHA-256, required with tls
    std::atomic<std::uint64_t> next_id{1};
};

net::asio::awaitable<void> serve_lmtp(net::connection& c, listener_context& ctx);

} // namespace splitmail::home::lmtp
