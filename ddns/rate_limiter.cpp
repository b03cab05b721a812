#include "rate_limiter.hpp"

#include <algorithm>
#include <cmath>

namespace splitmail::ddns {

using namespace std::chrono_literals;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

std::vector<window_limit> desec_write_limits() {
    return {{1s, 2}, {60s, 15}, {3600s, 100}, {86400s, 300}};
}

std::vector<window_limit> desec_read_limits() { return {{1s, 10}, {60s, 50}}; }

rate_limiter::rate_limiter(std::vector<window_limit> limits, milliseconds margin)
    : limits_(std::move(limits)), margin_(margin) {
    for (const auto& l : limits_)
        longest_ = std::max(longest_, duration_cast<milliseconds>(l.window) + margin_);
}

void rate_limiter::prune(time_point now) {
    while (!events_.empty() && now - events_.front() >= longest_) events_.pop_front();
}

milliseconds rate_limiter::wait_time(time_point now) const {
    milliseconds wait{0};
    for (const auto& l : limits_) {
        if (l.max_events == 0) return milliseconds::max();
        auto window = duration_cast<milliseconds>(l.window) + margin_;
        // Events still inside the window, newest first.
        std::size_t inside = 0;
        for (auto it = events_.rbegin(); it != events_.rend(); ++it) {
            if (now - *it >= window) break;
            ++inside;
        }
        if (inside < l.max_events) continue;
        // The (inside - max + 1)-th oldest event inside the window must leave it first.
        auto first_inside = events_.end() - static_cast<std::ptrdiff_t>(inside);
        auto must_expire = first_inside + static_cast<std::ptrdiff_t>(inside - l.max_events);
        auto until = duration_cast<milliseconds>(*must_expire + window - now);
        wait = std::max(wait, until);
    }
    return wait;
}

void rate_limiter::record(time_point now) {
    prune(now);
    // Keep ascending order even if the wall clock stepped back.
    auto pos = std::upper_bound(events_.begin(), events_.end(), now);
    events_.insert(pos, now);
}

void rate_limiter::restore(const std::vector<time_point>& events) {
    events_.assign(events.begin(), events.end());
    std::sort(events_.begin(), events_.end());
}

milliseconds backoff_delay(unsigned attempt, milliseconds base, milliseconds max,
                           double unit_random) {
    if (base <= 0ms) base = 1ms;
    if (max < base) max = base;
    milliseconds cap = base;
    for (unsigned i = 0; i < attempt && cap < max; ++i) cap = std::min(max, cap * 2);
    double r = std::clamp(unit_random, 0.0, 1.0);
    auto half = cap.count() / 2;
    return milliseconds(
        half + static_cast<long long>(std::floor(r * static_cast<double>(cap.count() - half))));
}

damper::damper(damping_params p) : p_(p) {}

double damper::penalty(time_point now) const {
    if (penalty_ <= 0) return 0;
    double elapsed = std::chrono::duration<double>(now - updated_).count();
    if (elapsed <= 0) return penalty_;
    double half = std::max(1.0, static_cast<double>(p_.half_life.count()));
    return penalty_ * std::exp2(-elapsed / half);
}

bool damper::allowed(time_point now) {
    double pen = penalty(now);
    if (suppressed_ && pen <= p_.reuse) suppressed_ = false;
    if (!suppressed_ && pen >= p_.suppress) suppressed_ = true;
    return !suppressed_;
}

void damper::record_change(time_point now) {
    // RFC 2439 4.2: the ceiling keeps the suppression below max_suppress.
    double ceiling =
        p_.reuse * std::exp2(static_cast<double>(p_.max_suppress.count()) /
                             std::max<double>(1.0, static_cast<double>(p_.half_life.count())));
    penalty_ = std::min(ceiling, penalty(now) + 1.0);
    updated_ = now;
    if (penalty_ >= p_.suppress) suppressed_ = true;
}

milliseconds damper::time_to_reuse(time_point now) const {
    if (!suppressed_) return 0ms;
    double pen = penalty(now);
    if (pen <= p_.reuse) return 0ms;
    double seconds = static_cast<double>(p_.half_life.count()) * std::log2(pen / p_.reuse);
    return milliseconds(static_cast<long long>(std::ceil(seconds * 1000.0)));
}

void damper::restore(const snapshot& s) {
    penalty_ = std::isfinite(s.penalty) && s.penalty > 0 ? s.penalty : 0;
    updated_ = s.updated;
    suppressed_ = s.suppressed;
}

} // namespace splitmail::ddns
