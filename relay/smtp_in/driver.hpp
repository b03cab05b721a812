#pragma once
// The Asio driver of one inbound SMTP connection: reads bytes, feeds the pure session
// (smtp_in/session.hpp), writes its replies, performs STARTTLS, and hands finished messages to
// the spool; the reply to DATA is sent only when the spool says the message is durable.
// Every phase has a deadline that trickling bytes cannot extend (connect -> EHLO: the HELO
// timeout; reply -> next command line: the idle timeout; DATA: the idle timeout plus the
// minimum data rate), shortened while the listener is overloaded for clients that are neither
// trusted nor authenticated; every write has a fixed deadline. The driver reports EHLO/HELO
// and a successful AUTH to the listener's admission (smtp_stream::progressed, authenticated;
// net::connection's through connection_stream).
// A `delay` action (the session's tarpit for refused recipients) is a timer wait before the
// next reply.
// Outgoing mail (authenticated, or from relay.trusted_networks) whose From: domain has DKIM keys
// is signed before the 250; submitted mail gets Date:/Message-ID: when missing. Both are stored
// as prefix header lines (submission/outgoing.hpp).
// Every message then goes through the content scanners (filter/scan.hpp, when rspamd or clamd
// is enabled) before it is spooled: a refusal is the reply to DATA and leaves nothing in the
// spool; the scanners' header lines go in front of the prefix.
// Greylisting and rate limits (smtp_in/policy.hpp) answer at MAIL and RCPT; a queued message
// whose recipients passed greylisting counts toward its network's auto-allow.
#include "recipients/directory.hpp"
#include "splitmail/config/relay.hpp"

#include "smtp_in/stream.hpp"
#include "splitmail/net/connection.hpp"
#include "splitmail/net/tls.hpp"
#include "splitmail/queue/spool.hpp"

#include <functional>
#include <memory>

namespace splitmail::auth {
class brake;
}

namespace splitmail::relay {

namespace filter {
class greylist;
class rate_limiter;
class dnsbl_checker;
} // namespace filter

class home_authenticator;
class dkim_keyring;
class network_counter;
class spf_checker;
namespace sender_auth {
struct config;
}

struct smtp_context {
    const settings* s = nullptr;
    queue::spool* spool = nullptr;
    recipient_directory* directory = nullptr;
    const net::tls_context* tls = nullptr;          // current STARTTLS context (may be null)
    std::function<void(queue::envelope)> on_queued; // hands a durable message to the runner
    // Submission listeners (issue 3): AUTH via `auth`, braked by the login brake `brake`.
    bool submission = false;
    bool implicit_tls = false; // RFC 8314: handshake before the banner
    home_authenticator* auth = nullptr;
    auth::brake* brake = nullptr;
    // DKIM keys (null or empty: no signing); swapped on SIGHUP, so read per message.
    const std::shared_ptr<const dkim_keyring>* dkim = nullptr;
    // Refused RCPTs per client network, shared by every listener (null: not counted).
    network_counter* rcpt_errors = nullptr;
    // DATA transactions whose message is being queued or whose reply is not yet written,
    // shared by every listener: SIGTERM waits for it to reach 0 (null: not counted).
    std::size_t* replies_owed = nullptr;
    // SPF of inbound mail (relay/spf; null: spf.check off or no resolver).
    spf_checker* spf = nullptr;
    // DKIM verification and Authentication-Results of inbound mail (relay/sender_auth; null:
    // only Received-SPF).
    const sender_auth::config* sender_auth = nullptr;
    // Issue 18: the greylist store (null: none; rspamd's `greylist` action then is a plain
    // 451) and whether inbound RCPTs are greylisted through it (greylist.enabled).
    filter::greylist* greylist = nullptr;
    bool greylist_rcpt = false;
    // Rate limits: inbound per client IP, submission per user (null: none).
    filter::rate_limiter* client_limits = nullptr;
    filter::rate_limiter* user_limits = nullptr;
    // DNS block/allow lists for port 25 clients (null: dnsbl.enabled off).
    filter::dnsbl_checker* dnsbl = nullptr;
};

// Serves one connection until the client quits, fails or times out. Throws (a
// boost::system::system_error from the stream, or std::runtime_error) when the connection
// fails; the listener logs it. Every message the client got a 250 for is durable in the spool
// before the 250 is written; a message the driver did not answer 250 leaves nothing in the
// spool (one whose 250 was lost on the way may be sent again: a duplicate, never a loss).
// tests/unit/relay/smtp_in/driver_test.cpp injects a failure at every step to check both.
net::asio::awaitable<void> serve_smtp(smtp_stream& conn, smtp_context& ctx);
// The listeners' entry point: serve_smtp over connection_stream(conn).
net::asio::awaitable<void> serve_smtp(net::connection& conn, smtp_context& ctx);

} // namespace splitmail::relay
