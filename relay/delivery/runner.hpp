#pragma once
// The relay's delivery runner: moves queued messages to home over LMTP.
//
// Flow: accepted (or recovered) envelopes enter `ready`; `home.connections` workers each keep
// one LMTP connection to home and deliver ready messages one transaction at a time. Per
// recipient: 2xx -> delivered; 5xx -> failed (RFC 3464 bounce to the sender); 4xx -> deferred
// with capped exponential backoff + jitter (relay/queue/schedule). When home cannot be reached
// at all the runner marks home "down", parks the message, and probes home every few seconds;
// the moment home answers, everything parked is retried at once (flush promptly after an
// outage, independent of each message's backoff). Messages older than spool.message_lifetime
// are returned to the sender. A recipient-list refresh loop keeps the recipient cache current.
//
// Recipients with route=remote (other domains, accepted from relay.trusted_networks, and
// bounces to foreign senders) belong to the outbound queue (smtp_out/remote_runner.hpp): an
// envelope goes there as soon as it has no open home recipient (after its home part is
// final and the envelope rewritten), so one envelope is owned by one runner at a time.
//
// Guarantees: an envelope leaves the spool only after every recipient is final and any bounce
// is itself durably queued. A crash at any point leads, at worst, to a repeated delivery.
// Not thread-safe: runs on the relay's io_context thread.
#include "recipients/directory.hpp"
#include "splitmail/config/relay.hpp"

#include "splitmail/net/tls.hpp"
#include "splitmail/queue/spool.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include <deque>
#include <map>
#include <memory>
#include <random>
#include <string>

namespace splitmail::relay {

class remote_runner;

class delivery_runner {
public:
    delivery_runner(boost::asio::io_context& io, const settings& s, queue::spool& spool,
                    recipient_directory& dir, net::tls_context home_tls);
    ~delivery_runner();

    void start(std::vector<queue::envelope> recovered);
    // A freshly accepted message (already durable).
    void add(queue::envelope env);
    // Retry everything now (SIGUSR1 / `splitmail queue flush`).
    void flush_all();
    void stop();
    std::size_t queued() const;
    bool home_reachable() const { return !home_down_; }

private:
    boost::asio::awaitable<void> worker(int n);
    boost::asio::awaitable<void> refresh_loop();
    boost::asio::awaitable<void> probe_loop();
    boost::asio::awaitable<void> finish_attempt(queue::envelope& env, bool connection_failed,
                                                const std::string& error);
    boost::asio::awaitable<bool> send_bounces(queue::envelope& env);
    void schedule(const std::string& id, std::chrono::system_clock::time_point when);
    void promote_due();
    void wake();
    // Hands an envelope without open home recipients to the outbound queue; false if it
    // has no open remote recipient either.
    bool route_remote(queue::envelope& env);

    boost::asio::io_context& io_;
    const settings& s_;
    queue::spool& spool_;
    recipient_directory& dir_;
    net::tls_context home_tls_;
    std::map<std::string, queue::envelope> envs_; // every message we own, by id
    std::deque<std::string> ready_;
    std::multimap<std::chrono::system_clock::time_point, std::string> waiting_;
    boost::asio::steady_timer wake_;
    boost::asio::steady_timer refresh_timer_;
    bool home_down_ = false;
    bool probing_ = false;
    bool stopped_ = false;
    std::mt19937_64 rng_;
    // Reads queued messages in pieces for both transports (message_stream.hpp), off the io
    // thread; declared before remote_, which uses it, so it outlives it.
    boost::asio::thread_pool readers_{2};
    std::unique_ptr<remote_runner> remote_; // null if the resolver could not be set up
};

} // namespace splitmail::relay
