#pragma once
// The queue manager's transport to other domains: SMTP to their MX hosts (RFC 5321).
//
// An attempt groups the envelope's open remote recipients by domain: one transaction per
// domain carries all of them (RFC 5321 3.3). Jobs wait in a queue per destination domain; at
// most outbound.connections_per_domain workers per domain and outbound.max_connections in
// total each keep one connection and run queued jobs on it one after another (RSET between
// transactions: connection reuse). A worker resolves the MX set (relay/dns), tries hosts in
// preference order and each host's IPv6 then IPv4 addresses until one greets and accepts EHLO
// (RFC 5321 5.1 fallback), upgrades with STARTTLS when offered.
// Per recipient: 2xx delivered; 5xx failed; 4xx deferred (decide.hpp). Null MX -> 556 5.1.10
// at once (RFC 7505 4.1); SMTPUTF8 message to a peer without SMTPUTF8 -> 5.6.7 (RFC 6531 3.4);
// bigger than the peer's SIZE -> 5.3.4 (RFC 1870 6). When every job of an attempt is done the
// attempt is reported to the queue manager (queue/manager.hpp), which bounces, retries
// (outbound.retry_*), sends the "delayed" notice after outbound.delay_warning and expires the
// message after outbound.message_lifetime.
//
// Guarantees: see transport.hpp. Not thread-safe: runs on the relay's io thread.
// Does not: DANE, MTA-STS, certificate checks, REQUIRETLS, BDAT/CHUNKING, DSN "relayed"
// notices for NOTIFY=SUCCESS to peers without DSN, MX-points-to-us loop detection.
#include "dns/resolver.hpp"
#include "queue/transport.hpp"
#include "splitmail/config/relay.hpp"
#include "smtp_out/client.hpp"

#include "splitmail/net/tls.hpp"
#include "splitmail/queue/spool.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <deque>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace splitmail::relay {

class remote_transport final : public transport {
public:
    // `readers` reads queued messages off the io thread (message_stream.hpp).
    remote_transport(boost::asio::io_context& io, const settings& s, queue::spool& spool,
                     boost::asio::thread_pool& readers, std::unique_ptr<dns::resolver> resolver,
                     net::tls_context client_tls);
    ~remote_transport() override;

    void start() override {}
    // No new jobs; the attempts' jobs not started end now, unsent (the attempt is cut_short:
    // not counted, due at once after a restart), so an attempt whose other job is waiting
    // for its replies is reported (and written) when that one ends.
    void stop() override;
    void attempt(queue::envelope& env, done_fn done) override;
    std::size_t active() const override { return sending_.terminated(); }
    std::string expiry_text(const queue::envelope& env, const queue::recipient& r) const override;
    std::string_view component() const override { return "smtp"; }
    // Shorter SMTP timeouts (tests).
    void set_timeouts(const smtp_timeouts& t) { timeouts_ = t; }

private:
    struct job {
        std::string id;
        std::string domain;
        std::vector<std::size_t> rcpts; // indices into the envelope's recipients
    };
    struct destination {
        std::deque<job> pending;
        std::size_t active = 0;
    };
    struct in_flight {
        queue::envelope* env = nullptr;
        std::size_t jobs = 0;
        attempt_record record;
        done_fn done;
    };

    void pump();
    boost::asio::awaitable<void> domain_worker(std::string domain);
    boost::asio::awaitable<void> run_job(const job& j, std::unique_ptr<smtp_client>& client,
                                         std::string& peer);
    boost::asio::awaitable<std::unique_ptr<smtp_client>> connect(const std::string& domain,
                                                                 const dns::mx_answer& mx,
                                                                 std::string& peer,
                                                                 std::string& error);
    void set_result(const job& j, std::size_t k, const smtp::reply& r, const std::string& peer);
    void set_all(const job& j, int code, std::string_view enhanced, const std::string& text);
    void job_done(const std::string& id);

    boost::asio::io_context& io_;
    const settings& s_;
    queue::spool& spool_;
    boost::asio::thread_pool& readers_;
    std::unique_ptr<dns::resolver> resolver_;
    net::tls_context tls_;
    smtp_timeouts timeouts_;
    std::map<std::string, in_flight> attempts_;
    std::map<std::string, destination> dests_;
    std::size_t connections_ = 0;
    streams_under_way sending_;
    bool stopped_ = false;
};

} // namespace splitmail::relay
