// Sliding-window rate limits; see rate_limit.hpp.
#include "filter/rate_limit.hpp"

namespace splitmail::relay::filter {
namespace {
constexpr std::size_t max_key = 320;
std::string_view cut(std::string_view k) { return k.substr(0, max_key); }
int index(rate_limiter::what w) { return w == rate_limiter::what::messages ? 0 : 1; }
} // namespace

void rate_limiter::roll(counters& c, clock::time_point now, std::chrono::seconds window) {
    if (now < c.start + window) return;
    if (now < c.start + 2 * window) {
        // One window on: the current counts become the previous ones.
        c.start += window;
        for (int i = 0; i < 2; ++i) {
            c.prev[i] = c.cur[i];
            c.cur[i] = 0;
        }
        return;
    }
    // Idle for two windows or more: nothing counts any longer.
    c.start = now;
    for (int i = 0; i < 2; ++i) c.prev[i] = c.cur[i] = 0;
}

rate_limiter::counters* rate_limiter::find(std::string_view key, clock::time_point now) {
    auto it = map_.find(std::string(cut(key)));
    if (it == map_.end()) return nullptr;
    roll(it->second, now, p_.window);
    lru_.splice(lru_.begin(), lru_, it->second.lru);
    return &it->second;
}

double rate_limiter::estimate(const counters& c, what w, clock::time_point now) const {
    // The previous window still overlaps the last hour by (window - elapsed).
    const auto elapsed = std::chrono::duration<double>(now - c.start).count();
    const auto window = static_cast<double>(p_.window.count());
    const double weight = elapsed >= window ? 0.0 : (window - elapsed) / window;
    return c.cur[index(w)] + c.prev[index(w)] * weight;
}

bool rate_limiter::allows(std::string_view key, what w, clock::time_point now) {
    const std::size_t lim = limit(w);
    if (lim == 0) return true;
    counters* c = find(key, now);
    if (!c) return true;
    return estimate(*c, w, now) + 1.0 <= static_cast<double>(lim);
}

void rate_limiter::add(std::string_view key, what w, clock::time_point now) {
    if (limit(w) == 0 || p_.max_keys == 0) return;
    counters* c = find(key, now);
    if (!c) {
        if (map_.size() >= p_.max_keys) { // the least recently used key goes
            map_.erase(lru_.back());
            lru_.pop_back();
        }
        lru_.emplace_front(cut(key));
        counters fresh;
        fresh.start = now;
        fresh.lru = lru_.begin();
        c = &map_.emplace(lru_.front(), fresh).first->second;
    }
    auto& n = c->cur[index(w)];
    if (n < UINT32_MAX) ++n;
}

double rate_limiter::count(std::string_view key, what w, clock::time_point now) {
    counters* c = find(key, now);
    return c ? estimate(*c, w, now) : 0.0;
}

} // namespace splitmail::relay::filter
