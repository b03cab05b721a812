// Rate limits (issue 18): the sliding window, keys kept apart, unlimited kinds, and the
// bound on tracked keys with least-recently-used eviction.
#include <gtest/gtest.h>

#include "filter/rate_limit.hpp"

using namespace splitmail::relay::filter;
using namespace std::chrono_literals;

namespace {
const auto t0 = rate_limiter::clock::time_point{} + 100000s;
using w = rate_limiter::what;
} // namespace

TEST(RateLimit, LimitWithinTheWindowPerKey) {
    rate_limiter r({3, 0, 100, 3600s});
    for (int i = 0; i < 3; ++i) {
        EXPECT_TRUE(r.allows("192.0.2.1", w::messages, t0 + std::chrono::seconds(i)));
        r.add("192.0.2.1", w::messages, t0 + std::chrono::seconds(i));
    }
    EXPECT_FALSE(r.allows("192.0.2.1", w::messages, t0 + 10s));
    EXPECT_TRUE(r.allows("192.0.2.2", w::messages, t0 + 10s)); // another key
    // recipients unlimited (0)
    for (int i = 0; i < 1000; ++i) r.add("192.0.2.1", w::recipients, t0);
    EXPECT_TRUE(r.allows("192.0.2.1", w::recipients, t0));
    EXPECT_EQ(r.count("192.0.2.1", w::recipients, t0), 0.0);
}

TEST(RateLimit, SlidingWindowLetsTheOldCountsFadeOut) {
    rate_limiter r({10, 10, 100, 3600s});
    for (int i = 0; i < 10; ++i) r.add("user", w::recipients, t0);
    EXPECT_FALSE(r.allows("user", w::recipients, t0 + 1s));
    // One window later the 10 are the previous window, weighted by its overlap with the last
    // hour: at +1h+30min half of it still counts (5), so 5 more fit but not 6.
    const auto half = t0 + 3600s + 1800s;
    EXPECT_NEAR(r.count("user", w::recipients, half), 5.0, 0.01);
    EXPECT_TRUE(r.allows("user", w::recipients, half));
    for (int i = 0; i < 4; ++i) r.add("user", w::recipients, half);
    EXPECT_TRUE(r.allows("user", w::recipients, half)); // 9 + 1 <= 10
    r.add("user", w::recipients, half);
    EXPECT_FALSE(r.allows("user", w::recipients, half)); // 10 + 1 > 10
    // Two hours idle: nothing counts any longer.
    EXPECT_TRUE(r.allows("user", w::recipients, half + 7200s));
    EXPECT_EQ(r.count("user", w::recipients, half + 7200s), 0.0);
    // The kinds count apart.
    EXPECT_TRUE(r.allows("user", w::messages, half));
}

TEST(RateLimit, RefusedEventsAreNotCounted) {
    rate_limiter r({2, 0, 100, 3600s});
    r.add("k", w::messages, t0);
    r.add("k", w::messages, t0);
    for (int i = 0; i < 100; ++i) EXPECT_FALSE(r.allows("k", w::messages, t0 + 1s));
    EXPECT_NEAR(r.count("k", w::messages, t0 + 1s), 2.0, 0.001);
}

TEST(RateLimit, TrackedKeysAreBoundedLeastRecentlyUsedGoesFirst) {
    rate_limiter r({1, 0, 100, 3600s});
    r.add("old", w::messages, t0);
    r.add("busy", w::messages, t0);
    for (int i = 0; i < 98; ++i) r.add("k" + std::to_string(i), w::messages, t0);
    EXPECT_EQ(r.size(), 100u);
    EXPECT_FALSE(r.allows("busy", w::messages, t0 + 1s)); // touches "busy": most recent
    for (int i = 0; i < 50000; ++i) {
        r.add("flood" + std::to_string(i), w::messages, t0 + 2s);
        ASSERT_LE(r.size(), 100u);
    }
    // "old" was evicted long ago: it is a fresh key again.
    EXPECT_TRUE(r.allows("old", w::messages, t0 + 3s));
    // A very long key is cut, not stored whole.
    const std::string huge(100000, 'a');
    r.add(huge, w::messages, t0 + 3s);
    EXPECT_FALSE(r.allows(huge, w::messages, t0 + 3s));
    EXPECT_LE(r.size(), 100u);
}
