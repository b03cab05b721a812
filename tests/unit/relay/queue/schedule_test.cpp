// Retry schedule: exact tables with jitter off, bounds with jitter on, seeded rng reproducible.
#include "queue/schedule.hpp"

#include <gtest/gtest.h>

using namespace splitmail::relay;
using std::chrono::days;
using std::chrono::duration_cast;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {
const sys_time t0 = sys_time{seconds{1'700'000'000}};
}

TEST(schedule, base_delay_doubles_and_caps) {
    retry_policy p; // 1m initial, 1h max
    const std::pair<int, int> table[] = {{0, 60},   {1, 60},    {2, 120},       {3, 240},
                                         {4, 480},  {5, 960},   {6, 1920},      {7, 3600},
                                         {8, 3600}, {50, 3600}, {1000000, 3600}};
    for (auto [attempts, secs] : table)
        EXPECT_EQ(base_delay(attempts, p), seconds{secs}) << "attempts=" << attempts;
}

TEST(schedule, without_jitter_next_attempt_is_exact) {
    retry_policy p;
    p.initial = seconds{30};
    p.max = seconds{300};
    p.jitter = 0;
    std::mt19937_64 rng(1);
    EXPECT_EQ(next_attempt(1, t0, p, rng), t0 + seconds{30});
    EXPECT_EQ(next_attempt(3, t0, p, rng), t0 + seconds{120});
    EXPECT_EQ(next_attempt(5, t0, p, rng), t0 + seconds{300}); // 480 capped
}

TEST(schedule, jitter_stays_within_bounds_and_spreads) {
    retry_policy p; // 20% jitter
    std::mt19937_64 rng(42);
    milliseconds lo = hours{10}, hi = milliseconds{0};
    for (int i = 0; i < 2000; ++i) {
        auto d = duration_cast<milliseconds>(next_attempt(3, t0, p, rng) - t0);
        lo = std::min(lo, d);
        hi = std::max(hi, d);
        ASSERT_GE(d, milliseconds{192'000}); // 240 s - 20%
        ASSERT_LE(d, milliseconds{288'000}); // 240 s + 20%
    }
    EXPECT_LT(lo, milliseconds{200'000}) << "jitter never went low";
    EXPECT_GT(hi, milliseconds{280'000}) << "jitter never went high";
    // At the cap the delay never exceeds max.
    for (int i = 0; i < 500; ++i) {
        auto d = next_attempt(20, t0, p, rng) - t0;
        ASSERT_LE(d, hours{1});
        ASSERT_GE(d, minutes{48});
    }
}

TEST(schedule, same_seed_same_schedule) {
    retry_policy p;
    std::mt19937_64 a(7), b(7);
    for (int i = 1; i < 20; ++i) EXPECT_EQ(next_attempt(i, t0, p, a), next_attempt(i, t0, p, b));
}

TEST(schedule, degenerate_policies_are_safe) {
    std::mt19937_64 rng(3);
    retry_policy zero;
    zero.initial = seconds{0};
    zero.max = seconds{0};
    zero.jitter = 5.0;
    auto d = next_attempt(1, t0, zero, rng) - t0;
    EXPECT_GE(d, seconds{1});
    EXPECT_LE(d, seconds{1});
    retry_policy inverted;
    inverted.initial = seconds{600};
    inverted.max = seconds{60};
    inverted.jitter = 0;
    EXPECT_EQ(next_attempt(4, t0, inverted, rng), t0 + seconds{600});
}

TEST(schedule, expiry_and_delay_warning) {
    retry_policy p; // 14 days, warn after 4h
    EXPECT_FALSE(expired(t0, t0 + days{14} - seconds{1}, p.lifetime));
    EXPECT_TRUE(expired(t0, t0 + days{14}, p.lifetime));
    EXPECT_FALSE(delay_warning_due(t0, t0 + hours{3}, false, p));
    EXPECT_TRUE(delay_warning_due(t0, t0 + hours{4}, false, p));
    EXPECT_FALSE(delay_warning_due(t0, t0 + hours{5}, true, p)) << "warn only once";
    EXPECT_FALSE(delay_warning_due(t0, t0 + days{15}, false, p)) << "expired: bounce instead";
    retry_policy no_warn;
    no_warn.delay_warning = seconds{0};
    EXPECT_FALSE(delay_warning_due(t0, t0 + days{1}, false, no_warn));
}
