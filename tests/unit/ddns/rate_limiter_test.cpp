#include "rate_limiter.hpp"

#include <gtest/gtest.h>

namespace splitmail::ddns {
namespace {

using namespace std::chrono_literals;
using ms = std::chrono::milliseconds;

const time_point t0 = time_point(std::chrono::hours(24 * 365 * 50));

TEST(DdnsRateLimiter, TwoPerSecondWithMargin) {
    rate_limiter l(desec_write_limits()); // 1s margin: the 1s window counts as 2s
    EXPECT_EQ(l.wait_time(t0), 0ms);
    l.record(t0);
    EXPECT_EQ(l.wait_time(t0), 0ms);
    l.record(t0 + 100ms);
    EXPECT_EQ(l.wait_time(t0 + 100ms), 1900ms);
    EXPECT_EQ(l.wait_time(t0 + 1999ms), 1ms);
    EXPECT_EQ(l.wait_time(t0 + 2000ms), 0ms);
}

TEST(DdnsRateLimiter, NeverExceedsDesecLimitsWhateverTheDemand) {
    // Greedy client: writes whenever allowed, for two simulated days. Check every deSEC window.
    rate_limiter l(desec_write_limits());
    std::vector<time_point> sent;
    time_point now = t0;
    const time_point end = t0 + 48h;
    while (now < end) {
        auto w = l.wait_time(now);
        if (w == 0ms) {
            l.record(now);
            sent.push_back(now);
            now += 10ms;
        } else {
            now += w;
        }
    }
    for (const auto& lim : desec_write_limits()) {
        std::size_t j = 0;
        for (std::size_t i = 0; i < sent.size(); ++i) {
            while (sent[i] - sent[j] >= lim.window) ++j;
            ASSERT_LE(i - j + 1, lim.max_events) << "window " << lim.window.count() << "s";
        }
    }
    // And the budget is actually used: close to 300 per day.
    EXPECT_GE(sent.size(), 2u * 290u);
    EXPECT_LE(sent.size(), 2u * 300u);
}

TEST(DdnsRateLimiter, FifteenPerMinute) {
    rate_limiter l(desec_write_limits(), 0ms);
    for (int i = 0; i < 15; ++i) {
        ASSERT_EQ(l.wait_time(t0 + i * 1s), 0ms) << i;
        l.record(t0 + i * 1s);
    }
    EXPECT_EQ(l.wait_time(t0 + 15s), 45s); // the first one leaves the minute at t0+60s
    EXPECT_EQ(l.wait_time(t0 + 60s), 0ms);
}

TEST(DdnsRateLimiter, HistoryRoundTripKeepsBudget) {
    rate_limiter a(desec_write_limits());
    for (int i = 0; i < 15; ++i) a.record(t0 + i * 2s);
    rate_limiter b(desec_write_limits());
    b.restore(a.history());
    EXPECT_EQ(b.wait_time(t0 + 31s), a.wait_time(t0 + 31s));
    EXPECT_GT(b.wait_time(t0 + 31s), 0ms);
}

TEST(DdnsBackoff, GrowsWithJitterAndCap) {
    EXPECT_EQ(backoff_delay(0, 10s, 1800s, 0.0), 5s);
    EXPECT_EQ(backoff_delay(0, 10s, 1800s, 0.999999), ms(9999));
    EXPECT_EQ(backoff_delay(1, 10s, 1800s, 0.0), 10s);
    EXPECT_EQ(backoff_delay(3, 10s, 1800s, 0.0), 40s);
    EXPECT_EQ(backoff_delay(40, 10s, 1800s, 0.0), 900s);
    EXPECT_LT(backoff_delay(40, 10s, 1800s, 0.999), 1800s);
    EXPECT_GE(backoff_delay(1000, 10s, 1800s, 0.5), 900s);
    // Different random draws give different delays (that is the point of jitter).
    EXPECT_NE(backoff_delay(4, 10s, 1800s, 0.1), backoff_delay(4, 10s, 1800s, 0.9));
}

TEST(DdnsDamper, SuppressesAtFourthQuickChangeAndReuses) {
    damper d(damping_params{3.5, 2.0, 900s, 3600s});
    for (int i = 0; i < 3; ++i) {
        ASSERT_TRUE(d.allowed(t0 + i * 10s)) << i;
        d.record_change(t0 + i * 10s);
    }
    EXPECT_TRUE(d.allowed(t0 + 30s));
    d.record_change(t0 + 30s); // the 4th change
    EXPECT_TRUE(d.suppressed());
    EXPECT_FALSE(d.allowed(t0 + 31s));
    auto reuse = d.time_to_reuse(t0 + 31s);
    EXPECT_GT(reuse, 600s);
    EXPECT_LT(reuse, 900s);
    EXPECT_FALSE(d.allowed(t0 + 31s + reuse - 5s));
    EXPECT_TRUE(d.allowed(t0 + 31s + reuse + 1s));
}

TEST(DdnsDamper, SlowChangesAreNeverDamped) {
    damper d;
    for (int i = 0; i < 50; ++i) {
        auto t = t0 + i * 1h;
        ASSERT_TRUE(d.allowed(t)) << i;
        d.record_change(t);
    }
}

TEST(DdnsDamper, MaxSuppressBoundsTheHoldDown) {
    damper d(damping_params{3.5, 2.0, 900s, 3600s});
    for (int i = 0; i < 1000; ++i) d.record_change(t0 + ms(i));
    EXPECT_LE(d.time_to_reuse(t0 + 1s), 3600s);
    damper e;
    e.restore(d.save());
    EXPECT_TRUE(e.suppressed());
    EXPECT_FALSE(e.allowed(t0 + 2s));
}

} // namespace
} // namespace splitmail::ddns
