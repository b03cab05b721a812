// Retry schedule: see schedule.hpp.
#include "queue/schedule.hpp"

#include <algorithm>
#include <cmath>

namespace splitmail::relay {

std::chrono::seconds base_delay(int attempts, const retry_policy& p) {
    const auto initial = std::max(p.initial, std::chrono::seconds{1});
    const auto cap = std::max(p.max, initial);
    const int n = std::max(attempts, 1);
    // Doubling 40 times overflows nothing in seconds (int64) but is far past any cap.
    auto d = initial;
    for (int i = 1; i < n && d < cap; ++i) d *= 2;
    return std::min(d, cap);
}

sys_time next_attempt(int attempts, sys_time now, const retry_policy& p, std::mt19937_64& rng) {
    const auto base = base_delay(attempts, p);
    const double j = std::clamp(p.jitter, 0.0, 0.99);
    std::uniform_real_distribution<double> u(-j, j);
    double secs = static_cast<double>(base.count()) * (1.0 + u(rng));
    const double cap = static_cast<double>(std::max(p.max, p.initial).count());
    secs = std::clamp(secs, 1.0, std::max(cap, 1.0));
    return now + std::chrono::milliseconds(static_cast<std::int64_t>(std::llround(secs * 1000)));
}

bool expired(sys_time arrival, sys_time now, std::chrono::seconds lifetime) {
    return now - arrival >= lifetime;
}

bool delay_warning_due(sys_time arrival, sys_time now, bool already_warned, const retry_policy& p) {
    return !already_warned && p.delay_warning.count() > 0 && now - arrival >= p.delay_warning &&
           !expired(arrival, now, p.lifetime);
}

} // namespace splitmail::relay
