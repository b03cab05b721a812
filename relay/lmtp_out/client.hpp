#pragma once
// LMTP client from the relay to splitmail-home (RFC 2033), over plain TCP inside the
// WireGuard tunnel or over mutual TLS with home's certificate pinned.
//
// Guarantees: one reply per recipient in RCPT order (RFC 2033 4.2): a recipient refused at
// RCPT gets that reply, an accepted one gets its own post-DATA reply. Connection-level
// failures (refused, timeout, TLS or pin mismatch, malformed replies) throw
// boost::system::system_error / std::runtime_error; the caller treats every recipient of the
// transaction as "try again later" (nothing was acknowledged).
// Does not: decide about retries or bounces, read files, or log per message (the runner does).
#include "delivery/message_stream.hpp"
#include "splitmail/net/connection.hpp"
#include "splitmail/net/tls.hpp"
#include "splitmail/smtp/reply.hpp"

#include <memory>
#include <string>
#include <vector>

namespace splitmail::relay {

struct lmtp_options {
    std::string address; // "ip:port"
    bool mtls = false;
    net::tls_context tls;   // client context (with our certificate) when mtls
    std::string pin_sha256; // home's certificate, lower-case hex, when mtls
    std::string lhlo_name;  // our hostname
    std::string secret;     // home.lmtp_secret: sent as XSECRET after LHLO when set
    net::clock::duration timeout = std::chrono::seconds(60);
    // TCP connect (and TLS handshake) to home: home is one hop away (the tunnel), so a
    // connect that has not completed in this time means home or the tunnel is down.
    net::clock::duration connect_timeout = std::chrono::seconds(10);
};

struct lmtp_transaction {
    std::string sender;                  // "" for <>
    std::vector<std::string> recipients; // forward-paths without brackets
    bool eight_bit = false;              // BODY=8BITMIME
    bool smtputf8 = false;
    message_stream* message = nullptr; // the message, dot-stuffed in pieces as it is sent
};

class lmtp_client {
public:
    // Connects, checks the pin, reads the greeting, says LHLO and, with a pairing secret,
    // XSECRET (contracts.md; anything but 235 is an error naming home's reply).
    static net::asio::awaitable<std::unique_ptr<lmtp_client>> open(const lmtp_options& opt);

    // One transaction, pipelined (MAIL, RCPT..., DATA in one write). Returns one reply per
    // recipient, in order.
    net::asio::awaitable<std::vector<smtp::reply>> deliver(const lmtp_transaction& t);
    // Sends one command line (without CRLF) and returns its reply.
    net::asio::awaitable<smtp::reply> command(std::string_view line);
    net::asio::awaitable<void> quit();
    bool has_extension(std::string_view keyword) const;
    // Whether this connection can carry another transaction: false when home closed it (or
    // said anything) while it sat idle in the pool, e.g. after home's LMTP idle timeout.
    bool reusable() const;

private:
    explicit lmtp_client(std::unique_ptr<net::connection> c, net::clock::duration timeout);
    net::asio::awaitable<smtp::reply> read_reply();

    std::unique_ptr<net::connection> conn_;
    net::clock::duration timeout_;
    smtp::reply_parser parser_;
    std::vector<std::string> extensions_;
};

} // namespace splitmail::relay
