#pragma once
// Sliding-window rate limiter for deSEC writes, with the clock injected (every call takes `now`).
//
// Guarantees: with the default limits, no sequence of record() calls made only when
// wait_time(now) is zero ever exceeds deSEC's per-domain RRset write limits (2/s, 15/min,
// 100/h, 300/day), whatever the IP does. Each window is widened by a margin so clock skew
// between us and deSEC cannot push us over. The history is exported and restored through
// the state file, so a restart (or a crash loop) does not reset the budget.
// Does not: sleep. Callers wait wait_time() themselves.
#include <chrono>
#include <cstddef>
#include <deque>
#include <vector>

#include "splitmail/ddns/state.hpp" // time_point, damping_snapshot (the state file's fields)

namespace splitmail::ddns {

struct window_limit {
    std::chrono::seconds window;
    std::size_t max_events;
};

// deSEC's documented limits for RRset writes per domain.
std::vector<window_limit> desec_write_limits();
// deSEC's limits for reads (10/s, 50/min).
std::vector<window_limit> desec_read_limits();

class rate_limiter {
public:
    explicit rate_limiter(std::vector<window_limit> limits,
                          std::chrono::milliseconds margin = std::chrono::milliseconds(1000));

    // Zero when one more event may happen at `now`; otherwise how long to wait.
    std::chrono::milliseconds wait_time(time_point now) const;
    void record(time_point now);

    std::vector<time_point> history() const { return {events_.begin(), events_.end()}; }
    void restore(const std::vector<time_point>& events); // sorted or not; old ones dropped later

private:
    void prune(time_point now);

    std::vector<window_limit> limits_;
    std::chrono::milliseconds margin_;
    std::chrono::milliseconds longest_{0};
    std::deque<time_point> events_; // ascending
};

// Exponential backoff with jitter for retries after 5xx and network errors: the cap of attempt n
// is min(max, base * 2^n); the delay is uniformly in [cap/2, cap) ("equal jitter"), so retries
// of many clients spread out and a retry never comes sooner than base/2.
// `unit_random` is in [0, 1) (injected for tests).
std::chrono::milliseconds backoff_delay(unsigned attempt, std::chrono::milliseconds base,
                                        std::chrono::milliseconds max, double unit_random);

// Flap damping after RFC 2439 (BGP route flap damping), applied to address changes: each
// published change adds a penalty of 1 that decays exponentially with the half-life. When the
// penalty reaches `suppress` further changes are held back until it has decayed to `reuse`;
// the penalty is capped so no suppression lasts longer than `max_suppress` (RFC 2439 4.2).
struct damping_params {
    double suppress = 3.5; // i.e. the 4th change within about one half-life
    double reuse = 2.0;
    std::chrono::seconds half_life{900};
    std::chrono::seconds max_suppress{3600};
};

class damper {
public:
    explicit damper(damping_params p = {});

    bool allowed(time_point now); // may a change be published now? (updates the suppressed flag)
    void record_change(time_point now);
    double penalty(time_point now) const;
    bool suppressed() const noexcept { return suppressed_; }
    // Time until the penalty decays to the reuse limit (zero when not suppressed).
    std::chrono::milliseconds time_to_reuse(time_point now) const;

    // For the state file.
    using snapshot = damping_snapshot;
    snapshot save() const { return {penalty_, updated_, suppressed_}; }
    void restore(const snapshot& s);

private:
    damping_params p_;
    double penalty_ = 0;
    time_point updated_{};
    bool suppressed_ = false;
};

} // namespace splitmail::ddns
