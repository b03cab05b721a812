#pragma once
// The relay's one queue manager: owns every queued envelope, its timer and its attempts, and
// hands attempts to two transports behind one interface (transport.hpp): LMTP to home for
// route=home recipients, SMTP to remote MX hosts for route=remote ones.
//
// Flow: accepted, recovered and notice envelopes enter with add()/start(). An envelope is
// owned by one route at a time (owner(): home while a home recipient is open, then remote).
// When it is due (next_attempt reached, a flush, home back online) the manager fails what
// outlived the route's lifetime (expire_open, 554 4.4.7), then either asks the route's
// transport for an attempt or, with nothing open, goes straight to the end of an attempt.
// At the end of every attempt the pure decisions (decide.hpp) say what happens; the manager
// only carries them out: queue the bounce (notice.hpp), count the attempt, send a delay
// notice, then remove the message, hand it to the other route, or rewrite the envelope and
// wait for next_attempt. A 1 s ticker starts due attempts. While a transport holds attempts
// back (home unreachable: transport::accepting), its due envelopes are held until the
// transport flushes its route; their lifetime is checked when they are begun.
//
// Guarantees: an envelope leaves the spool only when every recipient is final and its bounce
// is durably queued; a bounce that could not be queued is retried after retry.initial, the
// message kept meanwhile. At most one attempt per envelope is in flight. An envelope deleted
// with `splitmail queue delete` is dropped at its next attempt (ENOENT). A crash leads at
// worst to a repeated delivery or notice. Not thread-safe: the relay's io thread only.
// Does not: speak any protocol, choose hosts, or decide anything itself (decide.hpp does).
#include "queue/decide.hpp"
#include "queue/notice.hpp"
#include "queue/transport.hpp"

#include "splitmail/queue/spool.hpp"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>

#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace splitmail::relay {

class queue_manager {
public:
    // `notices` tells how to build and route DSNs (the manager's own reporting MTA name, the
    // "is this one of our domains" rule).
    queue_manager(boost::asio::io_context& io, queue::spool& spool, notice_settings notices);
    ~queue_manager();

    // The route's transport and policy; a route without one keeps its envelopes queued (and
    // says so once per envelope). Set before start(); the transport must outlive the manager.
    void set_transport(queue::rcpt_route route, transport* t, queue_policy policy);

    void start(std::vector<queue::envelope> recovered);
    // A freshly accepted (already durable) message.
    void add(queue::envelope env);
    // Every waiting envelope of the route (or of both) is due now.
    void flush(queue::rcpt_route route);
    void flush_all();
    void stop();

    std::size_t queued() const { return q_.size(); }
    // Transactions waiting for the replies to a message sent whole (transport::active) and
    // attempt ends not yet written to the spool: after stop() the relay waits (bounded) for
    // these to reach 0 before it exits, so a delivered message does not stay queued.
    std::size_t in_flight() const;
    std::size_t queued(queue::rcpt_route route) const;

    // Reads queued messages in pieces off the io thread (message_stream.hpp, notices).
    boost::asio::thread_pool& readers() { return readers_; }

private:
    struct entry {
        queue::envelope env;
        queue::rcpt_route route = queue::rcpt_route::home;
        bool busy = false;                  // an attempt (or its end) is in flight
        bool flushed = false;               // flushed while busy: due again when it ends
        bool parked = false;                // no transport for its route
        std::vector<std::string> unbounced; // failures whose bounce could not be queued yet
    };
    struct route_slot {
        transport* t = nullptr;
        queue_policy policy;
    };

    void enter(queue::envelope env);
    // `id` is due: begin it, or, while its transport holds attempts back, only expire it.
    void due(const std::string& id);
    void begin(const std::string& id);
    void promote_due();
    // Entries of `route` (of both: nullopt) in flight now are due again when their attempt
    // ends: a flush must not miss a message whose attempt is ending as it arrives.
    void flush_busy(std::optional<queue::rcpt_route> route);
    boost::asio::awaitable<void> finish(std::string id, attempt_record at);
    // Spawns finish() counted in finishing_.
    void spawn_finish(std::string id, attempt_record at);
    route_slot& slot(queue::rcpt_route r) { return slots_[r == queue::rcpt_route::home ? 0 : 1]; }

    boost::asio::io_context& io_;
    // First member, so it is joined last: transports' message streams read through it.
    boost::asio::thread_pool readers_{2};
    queue::spool& spool_;
    notice_settings notices_;
    route_slot slots_[2];
    std::map<std::string, entry> q_;
    std::multimap<sys_time, std::string> waiting_;
    std::set<std::string> held_; // due while their transport held attempts back
    std::size_t finishing_ = 0;  // finish() coroutines running
    bool started_ = false;
    bool stopped_ = false;
    std::mt19937_64 rng_;
};

} // namespace splitmail::relay
