#pragma once
// Calling deSEC the way its documentation asks: a throttled request (429) is repeated after
// the Retry-After it names, a 5xx or network failure after 1 s, 2 s, ... Shared by
// `splitmail dns apply` and the ACME dns-01 solver (one rule for both; splitmail-ddns
// schedules its own next cycle instead of sleeping).
// Guarantees: f is called at most `max_attempts` times; the sleeps of all calls sharing one
// `budget` add up to at most its initial value (a wait that would exceed what is left returns
// the error instead); a non-retryable error (4xx other than 429) is returned at once; every
// wait is reported to on_retry before it is slept.
// Does not: retry a success, or sleep without a budget left.
#include "splitmail/desec/types.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <thread>

namespace splitmail::desec {

struct retry_policy {
    int max_attempts = 5;                                             // per request
    std::function<void(std::chrono::seconds)> sleep;                  // unset: this thread sleeps
    std::function<void(const error&, std::chrono::seconds)> on_retry; // unset: silent
};

template <class F>
auto call_with_retries(F f, const retry_policy& p, std::chrono::seconds& budget) -> decltype(f()) {
    for (int attempt = 1;; ++attempt) {
        auto r = f();
        if (r || !r.error().retryable() || attempt >= p.max_attempts) return r;
        std::chrono::seconds wait{attempt};
        if (r.error().kind == error_kind::throttled)
            wait = std::max(r.error().retry_after.value_or(std::chrono::seconds{2}),
                            std::chrono::seconds{1});
        if (wait > budget) return r;
        budget -= wait;
        if (p.on_retry) p.on_retry(r.error(), wait);
        if (p.sleep)
            p.sleep(wait);
        else
            std::this_thread::sleep_for(wait);
    }
}

} // namespace splitmail::desec
