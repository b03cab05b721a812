#pragma once
// The relay queue manager's decisions, as pure functions of (envelope, what an attempt did,
// policy, now, rng): no clock, no disk, no network, so every branch is unit-tested exactly.
//
// One attempt by a transport (LMTP to home, SMTP to a remote MX) covers the envelope's open
// recipients of that transport's route. Its results are applied per recipient
// (apply_result: 2yz delivered, 5yz failed, anything else deferred; RFC 5321 4.2.1) and
// summed up in an attempt_record. At the end of the attempt the manager asks:
//   1. plan_bounce():  which recipients a failure DSN reports now, if any;
//   2. (the manager queues that bounce and learns whether it is durable)
//   3. decide():       remove the message / hand it to the other route / try again later
//                      (capped exponential backoff, never past the lifetime's end), whether the
//                      attempt counts, and whether a "delayed" notice is due (RFC 3464).
// Two policies cover both transports (queue_policy): home reports every failed recipient once
// its part is final (one bounce, however many attempts it took); remote reports each
// attempt's failures at once (the sender learns early that one domain refused). Delay notices
// are the remote policy's (home's outage is the reason for the queue, not news).
//
// Guarantees: an envelope is removed only when no recipient of any route is open and its
// bounce is durable (bounce_ok); a failed bounce never loses the failure (the manager keeps
// the record and retries after retry.initial). next_attempt never lies past
// arrival + lifetime + 1 s, so the expiry bounce does not wait for a backoff.
// Does not: log, build DSNs (bounce/dsn.hpp), or read the clock or a random device.
#include "queue/schedule.hpp"

#include "splitmail/queue/envelope.hpp"

#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace splitmail::relay {

// One recipient's answer in an attempt: a reply of the peer or one the transport made up
// (connection lost -> 451 4.4.2, null MX -> 556 5.1.10, ...).
struct rcpt_result {
    int code = 0;
    std::string enhanced; // "5.1.1", may be "" (home's LMTP replies are stored as they came)
    std::string text;     // for the envelope, logs and the DSN's Diagnostic-Code
};

enum class rcpt_outcome { delivered, failed, deferred };

// RFC 5321 4.2.1: 2yz success, 5yz permanent; 4yz and anything malformed is tried again.
rcpt_outcome classify(int code);

// Records the result on the recipient (state and last_*) and returns its outcome.
rcpt_outcome apply_result(queue::recipient& r, const rcpt_result& res);

// What one attempt did, besides the recipient states it set.
struct attempt_record {
    std::vector<std::string> failed_now; // recipients that became failed in this attempt
    std::string error;                   // the attempt's temporary error ("" none): last_error
    bool message_gone = false;           // msg/<id> vanished (`splitmail queue delete`)
    // The relay is stopping and some open recipients were not tried: not an attempt (not
    // counted, no delay notice) and due again at once, i.e. when the relay starts again.
    bool cut_short = false;
};

// apply_result plus the bookkeeping: a failure joins failed_now; a deferral with a non-empty
// `error_if_deferred` sets record.error.
rcpt_outcome apply_result(queue::envelope& env, std::size_t index, const rcpt_result& res,
                          attempt_record& record, std::string_view error_if_deferred = {});

bool is_final(queue::rcpt_state s);
bool is_open(const queue::recipient& r, queue::rcpt_route route);
bool has_open(const queue::envelope& env, queue::rcpt_route route);
queue::rcpt_route other_route(queue::rcpt_route r);

// The route that owns an envelope: home while a home recipient is open, then remote while a
// remote one is; an envelope with nothing open is finished under home's policy.
queue::rcpt_route owner(const queue::envelope& env);

struct queue_policy {
    queue::rcpt_route route = queue::rcpt_route::home;
    retry_policy retry;       // retry.delay_warning 0: no delay notices
    bool bounce_each_attempt; // true: failed_now at once; false: all failures once final
};

// RFC 5321 4.5.4.1 / RFC 3463 4.4.7: when the lifetime is over, every open recipient of
// `route` fails with 554 4.4.7 and text why(recipient). Returns their addresses (none if the
// message is not yet expired). Call before an attempt starts.
std::vector<std::string>
expire_open(queue::envelope& env, queue::rcpt_route route, sys_time now,
            std::chrono::seconds lifetime,
            const std::function<std::string(const queue::recipient&)>& why);

struct bounce_plan {
    bool send = false;
    std::vector<std::string> only; // the DSN's `only`: empty = every failed recipient
};
bounce_plan plan_bounce(const queue::envelope& env, const queue_policy& p,
                        const attempt_record& at);

enum class next_step {
    drop,       // stop owning it without touching the spool (message gone)
    remove,     // every recipient final, bounce durable: delete from the spool
    hand_over,  // this route's part is final: rewrite the envelope, give it to the other route
    reschedule, // rewrite the envelope, try again at `next_attempt`
};

struct decision {
    next_step step = next_step::reschedule;
    bool count_attempt = false;            // ++attempts; last_error = record.error if not ""
    sys_time next_attempt{};               // for reschedule
    std::vector<std::string> delay_notice; // if not empty: send a "delayed" DSN for these
};

// `bounce_ok`: the bounce plan_bounce asked for is durably queued (true if none was asked).
decision decide(const queue::envelope& env, const queue_policy& p, const attempt_record& at,
                bool bounce_ok, sys_time now, std::mt19937_64& rng);

} // namespace splitmail::relay
