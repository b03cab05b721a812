#pragma once
// What the relay's queue manager (manager.hpp) needs from a way of delivering: LMTP to home
// (delivery/home_transport.hpp) or SMTP to the MX hosts of other domains
// (smtp_out/remote_transport.hpp). A transport knows its protocol, its connections and its
// concurrency; the manager knows envelopes, timers, bounces and the spool.
//
// Contract: attempt() tries the envelope's open recipients of the transport's route once
// (is_open in decide.hpp), records each one's result with apply_result (decide.hpp) and then
// calls `done` exactly once, on the io thread, with what the attempt did. The envelope stays
// owned by the manager and valid (nothing else touches it) until `done` is called; a
// transport may hold the attempt back (home unreachable) but must not drop it while running.
// Does not: touch the spool's envelopes, schedule, bounce or log what the manager logs.
#include "queue/decide.hpp"

#include "splitmail/queue/envelope.hpp"

#include <functional>
#include <string>
#include <string_view>

namespace splitmail::relay {

class transport {
public:
    using done_fn = std::function<void(attempt_record)>;
    virtual ~transport() = default;

    virtual void start() = 0;
    // No new attempts after this; attempts in flight may still call done.
    virtual void stop() = 0;
    virtual void attempt(queue::envelope& env, done_fn done) = 0;
    // Transactions under way whose message has been sent whole (the terminating dot) and
    // whose replies are not in yet: a stopping relay lets these end, so a message the peer
    // already took is not sent again. Attempts before that point are simply cut off.
    virtual std::size_t active() const = 0;
    // False while the transport holds attempts back (home unreachable): the manager then
    // starts none for this route, only expires what outlived its lifetime, until flush().
    virtual bool accepting() const { return true; }
    // The text of a recipient that expired unsent (554 4.4.7), for its DSN.
    virtual std::string expiry_text(const queue::envelope& env,
                                    const queue::recipient& r) const = 0;
    // The component name of this transport's log lines ("lmtp", "smtp").
    virtual std::string_view component() const = 0;
};

} // namespace splitmail::relay
