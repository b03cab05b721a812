#pragma once
// SMTP client of the relay's outbound queue (RFC 5321), one connection to one MX.
//
// open(): reads the greeting, says EHLO relay.hostname (HELO when EHLO is refused, RFC 5321
// 3.2), and when the peer offers STARTTLS and a TLS context is given, upgrades (RFC 3207) and
// says EHLO again (RFC 3207 4.2: forget what was learnt before TLS). TLS is opportunistic:
// the certificate is not verified (DANE and MTA-STS come later).
// send(): one mail transaction. With PIPELINING (RFC 2920) MAIL, every RCPT and DATA go out in
// one write; without it, command by command, stopping early when MAIL or every RCPT fails.
// ESMTP parameters only when offered: SIZE= (RFC 1870), BODY=8BITMIME (RFC 6152), SMTPUTF8
// (RFC 6531), NOTIFY/ORCPT/RET/ENVID (RFC 3461).
//
// Guarantees: one reply per recipient, in order (the RCPT refusal, or the reply to the end of
// data, or the MAIL refusal for all). Every read and write has a deadline (RFC 5321 4.5.3.2
// timeouts). A broken or out-of-step peer throws (smtp_failure carries the peer's reply when
// there was one); the caller treats the recipients as not delivered.
// Does not: choose hosts, retry, decide bounces, or refuse SMTPUTF8 messages by itself
// (the runner checks caps() first: RFC 6531 3.4).
#include "delivery/message_stream.hpp"
#include "splitmail/net/connection.hpp"
#include "splitmail/net/tls.hpp"
#include "splitmail/queue/envelope.hpp"
#include "splitmail/smtp/reply.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace splitmail::relay {

// What the peer's EHLO reply offers.
struct peer_caps {
    bool esmtp = false;
    bool pipelining = false;
    bool starttls = false;
    bool eight_bit_mime = false;
    bool smtputf8 = false;
    bool dsn = false;
    bool enhanced_codes = false;
    bool size = false;
    std::uint64_t max_size = 0; // SIZE n; 0 = no limit announced
};

// Reads the keywords of an EHLO reply (lines after the first). Pure; tolerant of case and of
// garbage (unknown words are ignored, a malformed SIZE argument means "no limit").
peer_caps parse_ehlo(const smtp::reply& ehlo);

// RFC 5321 4.5.3.2 timeouts (minimum values the RFC asks for).
struct smtp_timeouts {
    net::clock::duration connect = std::chrono::seconds(30);
    net::clock::duration greeting = std::chrono::minutes(5);
    net::clock::duration command = std::chrono::minutes(5);
    net::clock::duration data_init = std::chrono::minutes(2);
    net::clock::duration data_block = std::chrono::minutes(3);
    net::clock::duration data_end = std::chrono::minutes(10);
    net::clock::duration tls = std::chrono::seconds(60);
};

struct smtp_client_options {
    std::string helo_name; // relay.hostname
    net::tls_context tls;  // client context for STARTTLS; null: never STARTTLS
    std::string sni;       // MX host name for SNI ("" none)
    smtp_timeouts timeouts;
};

// The peer said something that ends this connection (greeting refused, EHLO and HELO
// refused, STARTTLS refused or failed, protocol out of step). `reply` is set when the failure
// is a reply; `during` names the step for logs ("greeting", "EHLO", "STARTTLS", ...).
struct smtp_failure : std::runtime_error {
    smtp_failure(std::string during, std::optional<smtp::reply> r, const std::string& what)
        : std::runtime_error(what), step(std::move(during)), reply(std::move(r)) {}
    std::string step;
    std::optional<smtp::reply> reply;
    bool tls_failed = false; // the TLS handshake failed: retrying without TLS may work
};

struct outbound_rcpt {
    std::string address;
    std::string orcpt; // "rfc822;xtext" as received, "" none
    queue::dsn_notify notify;
};

struct outbound_transaction {
    std::string sender; // "" for <>
    std::vector<outbound_rcpt> recipients;
    queue::body_type body = queue::body_type::unspecified;
    bool smtputf8 = false;
    queue::ret_type ret = queue::ret_type::unspecified;
    std::string envid;
    message_stream* message = nullptr; // the message, dot-stuffed in pieces as it is sent
};

class smtp_client {
public:
    // Greeting, EHLO/HELO, opportunistic STARTTLS on an established connection.
    static net::asio::awaitable<std::unique_ptr<smtp_client>>
    open(std::unique_ptr<net::connection> conn, const smtp_client_options& opt);

    net::asio::awaitable<std::vector<smtp::reply>> send(const outbound_transaction& t);
    // RSET before reusing the connection for another transaction; false if the peer refused
    // or the connection broke (then close it).
    net::asio::awaitable<bool> reset();
    net::asio::awaitable<void> quit();

    const peer_caps& caps() const { return caps_; }
    bool is_tls() const { return conn_->is_tls(); }
    std::string tls_version() const { return conn_->tls_version(); }
    const net::connection& connection() const { return *conn_; }
    const smtp::reply& greeting() const { return greeting_; }

private:
    smtp_client(std::unique_ptr<net::connection> c, const smtp_client_options& opt);
    net::asio::awaitable<smtp::reply> read_reply(net::clock::duration timeout);
    net::asio::awaitable<smtp::reply> command(std::string_view line, net::clock::duration timeout);
    net::asio::awaitable<void> hello();
    std::string mail_line(const outbound_transaction& t) const;
    std::string rcpt_line(const outbound_rcpt& r) const;

    std::unique_ptr<net::connection> conn_;
    smtp_client_options opt_;
    smtp::reply_parser parser_;
    smtp::reply greeting_;
    peer_caps caps_;
};

} // namespace splitmail::relay
