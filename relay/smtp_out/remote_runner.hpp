#pragma once
// The relay's outbound queue: delivers recipients with route=remote to the MX hosts of their
// domains over SMTP, retries temporary failures, and returns failures to the sender.
//
// Flow: an envelope enters with add() (from the delivery runner: fresh, recovered, or after
// its home recipients are done). Each attempt groups the envelope's open remote recipients by
// domain: one transaction per domain carries all of them (RFC 5321 3.3). Jobs wait in a queue
// per destination domain; at most outbound.connections_per_domain workers per domain and
// outbound.max_connections in total each keep one connection and run queued jobs on it one
// after another (RSET between transactions: connection reuse). A worker resolves the MX set
// (relay/dns), tries hosts in preference order and each host's IPv6 then IPv4 addresses until
// one greets and accepts EHLO (RFC 5321 5.1 fallback), upgrades with STARTTLS when offered.
// Per recipient: 2xx delivered; 5xx failed; 4xx deferred. Null MX -> 556 5.1.10 at once
// (RFC 7505 4.1); SMTPUTF8 message to a peer without SMTPUTF8 -> 5.6.7 (RFC 6531 3.4); bigger
// than the peer's SIZE -> 5.3.4 (RFC 1870 6).
// When every job of an attempt is done: failures of this attempt -> one RFC 3464 bounce
// (relay/bounce/dsn.hpp), queued durably and handed back to the delivery runner (route home
// for our domains, remote otherwise); deferred recipients -> next attempt after the retry
// schedule (relay/queue/schedule.hpp, outbound.retry_*), one "delayed" notice after
// outbound.delay_warning (envelope.delay_warned), all failed after outbound.message_lifetime
// (4.4.7). The envelope (attempts, next_attempt, last_error, per-recipient state) is rewritten
// after every attempt, so `splitmail queue list` shows when and why.
//
// Guarantees: an envelope leaves the spool only when every recipient is final and its bounce
// (if any) is durably queued. The null sender never gets a notice (dsn.hpp). A crash leads at
// worst to a repeated delivery. Not thread-safe: runs on the relay's io thread.
// Does not: DANE, MTA-STS, certificate checks, REQUIRETLS, BDAT/CHUNKING, DSN "relayed"
// notices for NOTIFY=SUCCESS to peers without DSN, MX-points-to-us loop detection.
#include "bounce/dsn.hpp"
#include "dns/resolver.hpp"
#include "splitmail/config/relay.hpp"
#include "smtp_out/client.hpp"

#include "splitmail/net/tls.hpp"
#include "splitmail/queue/spool.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

namespace splitmail::relay {

class remote_runner {
public:
    // `submit` takes a durably queued notice (bounce/delay) for delivery (the delivery
    // runner's add(): it routes home or back here).
    using submit_fn = std::function<void(queue::envelope)>;

    // `readers` reads queued messages off the io thread (message_stream.hpp).
    remote_runner(boost::asio::io_context& io, const settings& s, queue::spool& spool,
                  boost::asio::thread_pool& readers, std::unique_ptr<dns::resolver> resolver, net::tls_context client_tls,
                  submit_fn submit);
    ~remote_runner();

    void start();
    // An envelope with open route=remote recipients (and no open home ones).
    void add(queue::envelope env);
    void flush_all();
    void stop();
    std::size_t queued() const { return envs_.size(); }
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
    struct attempt {
        std::size_t jobs = 0;
        std::vector<std::string> failed_now;
        std::string error;
        bool message_gone = false;
    };

    void start_attempt(const std::string& id);
    void pump();
    boost::asio::awaitable<void> domain_worker(std::string domain);
    boost::asio::awaitable<void> run_job(const job& j, std::unique_ptr<smtp_client>& client,
                                         std::string& peer);
    boost::asio::awaitable<std::unique_ptr<smtp_client>>
    connect(const std::string& domain, const dns::mx_answer& mx, std::string& peer,
            std::string& error);
    void set_result(const job& j, std::size_t k, const smtp::reply& r, const std::string& peer);
    void set_all(const job& j, int code, std::string_view enhanced, const std::string& text);
    void job_done(const std::string& id);
    boost::asio::awaitable<void> finish_attempt(std::string id);
    boost::asio::awaitable<bool> send_notice(queue::envelope& env, dsn_kind kind,
                                             std::vector<std::string> only);

    boost::asio::io_context& io_;
    const settings& s_;
    queue::spool& spool_;
    boost::asio::thread_pool& readers_;
    std::unique_ptr<dns::resolver> resolver_;
    net::tls_context tls_;
    submit_fn submit_;
    smtp_timeouts timeouts_;
    std::map<std::string, queue::envelope> envs_;
    std::map<std::string, attempt> attempts_;
    std::map<std::string, std::vector<std::string>> unbounced_; // bounce not yet queued
    std::multimap<std::chrono::system_clock::time_point, std::string> waiting_;
    std::map<std::string, destination> dests_;
    std::size_t connections_ = 0;
    bool stopped_ = false;
    std::mt19937_64 rng_;
};

} // namespace splitmail::relay
