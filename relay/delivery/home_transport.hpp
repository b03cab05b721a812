#pragma once
// The queue manager's transport to home: LMTP (RFC 2033) over the tunnel or mutual TLS.
//
// `home.connections` workers each keep one pooled LMTP connection and run attempts one
// transaction at a time. Per recipient (one LMTP reply each): 2xx delivered, 5xx failed,
// 4xx deferred (decide.hpp). When home cannot be reached at all the transport marks home
// "down", reports the attempt as failed ("home unreachable: ...", every recipient still open),
// holds every other attempt back and probes home every 1..5 s; the moment home answers, the
// manager flushes home's queue (retry at once after an outage, whatever each message's
// backoff). A pooled connection home closed while idle (its LMTP idle timeout, a restart) is
// noticed (EOF while idle, lmtp_client::reusable) and replaced before use, so it never costs an
// attempt. Connecting (TCP + TLS) is capped at 10 s (lmtp_options::connect_timeout).
// The transport also keeps the recipient cache current (XDIRECTORY every
// relay.recipient_refresh, at once after an outage).
//
// Guarantees: see transport.hpp; nothing acknowledged by home is reported as not delivered.
// Not thread-safe: the relay's io thread.
#include "delivery/message_stream.hpp"
#include "queue/manager.hpp"
#include "queue/transport.hpp"
#include "recipients/directory.hpp"
#include "splitmail/config/relay.hpp"

#include "splitmail/net/tls.hpp"
#include "splitmail/queue/spool.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include <deque>
#include <string>

namespace splitmail::relay {

class home_transport final : public transport {
public:
    home_transport(boost::asio::io_context& io, const settings& s, queue::spool& spool,
                   recipient_directory& dir, net::tls_context home_tls, queue_manager& manager);

    void start() override;
    void stop() override;
    void attempt(queue::envelope& env, done_fn done) override;
    std::string expiry_text(const queue::envelope& env, const queue::recipient& r) const override;
    std::string_view component() const override { return "lmtp"; }
    bool accepting() const override { return !home_down_; }
    std::size_t active() const override { return sending_.terminated(); }

    bool home_reachable() const { return !home_down_; }

private:
    struct pending {
        queue::envelope* env;
        done_fn done;
    };
    boost::asio::awaitable<void> worker();
    boost::asio::awaitable<void> probe_loop();
    boost::asio::awaitable<void> refresh_loop();

    boost::asio::io_context& io_;
    const settings& s_;
    queue::spool& spool_;
    recipient_directory& dir_;
    net::tls_context home_tls_;
    queue_manager& manager_;
    std::deque<pending> ready_;
    boost::asio::steady_timer wake_;
    boost::asio::steady_timer refresh_timer_;
    bool home_down_ = false;
    bool probing_ = false;
    streams_under_way sending_;
    bool stopped_ = false;
};

} // namespace splitmail::relay
