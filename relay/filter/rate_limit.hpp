#pragma once
// Rate limits (issue 18): messages and recipients per key (a client IP address for inbound
// mail, an authenticated user for submission) in any hour, so a stolen password or a
// flooding client sends only so much before it gets 451 4.7.1 and has to come back later.
//
// Each key has two counters per kind (this window, the previous one); the count "in the last
// hour" is the sliding-window estimate cur + prev * (time left of the previous window's
// overlap) / window: O(1) time and fixed memory per key, never over-counting a steady sender
// by more than the previous window's share. A refused event is not counted, so a client that
// keeps retrying while over the limit gets through once the window has moved on.
//
// Guarantees: at most `max_keys` keys (least recently used goes first when full: a map plus a
// recency list, O(1) per call); keys longer than 320 octets are cut (the relay's keys are an
// IP address or a user name of at most 255 octets). Not thread-safe (one io thread).
// Does not do: choose the reply, or remember anything across restarts.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>

namespace splitmail::relay::filter {

class rate_limiter {
public:
    using clock = std::chrono::steady_clock;
    enum class what { messages, recipients };
    struct policy {
        std::size_t messages = 0;   // per window; 0: unlimited
        std::size_t recipients = 0; // per window; 0: unlimited
        std::size_t max_keys = 10000;
        std::chrono::seconds window{3600};
    };

    explicit rate_limiter(policy p) : p_(p) {}

    // Would one more event of kind `w` for `key` stay within the limit?
    bool allows(std::string_view key, what w, clock::time_point now);
    // Count one event.
    void add(std::string_view key, what w, clock::time_point now);
    // The sliding-window count now (for logs and tests).
    double count(std::string_view key, what w, clock::time_point now);

    std::size_t size() const { return map_.size(); }
    std::size_t limit(what w) const { return w == what::messages ? p_.messages : p_.recipients; }

private:
    struct counters {
        clock::time_point start; // of the current window
        std::uint32_t cur[2] = {0, 0};
        std::uint32_t prev[2] = {0, 0};
        std::list<std::string>::iterator lru;
    };
    counters* find(std::string_view key, clock::time_point now); // rolled to `now`, or null
    static void roll(counters& c, clock::time_point now, std::chrono::seconds window);
    double estimate(const counters& c, what w, clock::time_point now) const;

    policy p_;
    std::list<std::string> lru_; // most recent first
    std::unordered_map<std::string, counters> map_;
};

} // namespace splitmail::relay::filter
