#pragma once
// Retry schedule of the relay's queue: pure functions of (attempts, now, policy, rng).
//
// After the n-th failed attempt (n >= 1) the next attempt is due after
//     min(initial * 2^(n-1), max) * (1 + u),  u uniform in [-jitter, +jitter],
// clamped to [1 s, max]: 1m, 2m, 4m, ... 32m, then 1h (48m..1h with 20% jitter). Jitter spreads
// retries of messages that failed together (home offline) so they do not hit home in one burst.
// A message older than `lifetime` is returned to its sender (RFC 5321 4.5.4.1: give up after
// 4-5 days at least; we default to 14 days because home may be offline for a holiday).
//
// Does not: read clocks or own an rng (both injected, so tests are exact), or know about
// flushes: a flush (SIGUSR1, home back online) simply retries before next_attempt.
#include <chrono>
#include <random>

namespace splitmail::relay {

using sys_time = std::chrono::system_clock::time_point;

struct retry_policy {
    std::chrono::seconds initial{60};
    std::chrono::seconds max{3600};
    std::chrono::seconds lifetime{14 * 86400};
    double jitter = 0.2;                          // fraction, 0 <= jitter < 1
    std::chrono::seconds delay_warning{4 * 3600}; // RFC 3464 "delayed" notice after this long
};

// Backoff before the next attempt after `attempts` failed ones, before jitter (attempts <= 0
// is treated as 1).
std::chrono::seconds base_delay(int attempts, const retry_policy& p);

// When to try again after `attempts` failed attempts, the last one ending at `now`.
sys_time next_attempt(int attempts, sys_time now, const retry_policy& p, std::mt19937_64& rng);

// True once the message has been queued for `lifetime` or longer.
bool expired(sys_time arrival, sys_time now, std::chrono::seconds lifetime);

// True if a "delayed" DSN should be sent now (once: `already_warned` stops repeats).
bool delay_warning_due(sys_time arrival, sys_time now, bool already_warned, const retry_policy& p);

} // namespace splitmail::relay
