// Renewal timing: a third of the lifetime left, backoff after failures, Retry-After.
#include <gtest/gtest.h>

#include "splitmail/acme/renewal.hpp"

namespace acme = splitmail::acme;
using namespace std::chrono_literals;
using clock_type = std::chrono::system_clock;

namespace {
const auto t0 = clock_type::from_time_t(1'800'000'000);
constexpr auto day = std::chrono::hours(24);
} // namespace

TEST(AcmeRenewal, DueWhenAThirdOfTheLifetimeIsLeft) {
    acme::renewal_input in;
    in.not_before = t0;
    in.not_after = t0 + 90 * day;
    auto d = acme::decide_renewal(in, t0 + 59 * day);
    EXPECT_FALSE(d.renew_now);
    EXPECT_EQ(d.due, t0 + 60 * day);
    EXPECT_EQ(d.next_check, t0 + 60 * day);
    EXPECT_TRUE(acme::decide_renewal(in, t0 + 60 * day).renew_now);
    EXPECT_TRUE(acme::decide_renewal(in, t0 + 100 * day).renew_now); // expired: still renew
    // A short-lived certificate (6 days) renews after 4.
    in.not_after = t0 + 6 * day;
    EXPECT_EQ(acme::decide_renewal(in, t0).due, t0 + 4 * day);
}

TEST(AcmeRenewal, NoCertificateOrOtherNamesIsDueNow) {
    acme::renewal_input none;
    EXPECT_TRUE(acme::decide_renewal(none, t0).renew_now);
    acme::renewal_input other;
    other.not_before = t0;
    other.not_after = t0 + 90 * day;
    other.names_match = false;
    EXPECT_TRUE(acme::decide_renewal(other, t0 + day).renew_now);
    acme::renewal_input backwards; // not_after before not_before: treat as none
    backwards.not_before = t0;
    backwards.not_after = t0 - day;
    EXPECT_TRUE(acme::decide_renewal(backwards, t0).renew_now);
}

TEST(AcmeRenewal, BackoffDoublesUpToTheCap) {
    EXPECT_EQ(acme::renewal_backoff(0), 0s);
    EXPECT_EQ(acme::renewal_backoff(1), 5min);
    EXPECT_EQ(acme::renewal_backoff(2), 10min);
    EXPECT_EQ(acme::renewal_backoff(4), 40min);
    EXPECT_EQ(acme::renewal_backoff(8), 6h);
    EXPECT_EQ(acme::renewal_backoff(1000000), 6h);
}

TEST(AcmeRenewal, FailuresDelayTheNextAttemptAndRetryAfterWins) {
    acme::renewal_input in;
    in.not_before = t0;
    in.not_after = t0 + 90 * day;
    auto failed_at = t0 + 61 * day;
    in.consecutive_failures = 3;
    in.last_attempt = failed_at;
    auto d = acme::decide_renewal(in, failed_at + 10min);
    EXPECT_FALSE(d.renew_now);
    EXPECT_EQ(d.next_check, failed_at + 20min);
    EXPECT_TRUE(acme::decide_renewal(in, failed_at + 20min).renew_now);
    in.retry_after = 3h; // the CA's rateLimited answer said so
    d = acme::decide_renewal(in, failed_at + 20min);
    EXPECT_FALSE(d.renew_now);
    EXPECT_EQ(d.next_check, failed_at + 3h);
    in.retry_after = 1min; // a shorter Retry-After does not undercut our backoff
    EXPECT_EQ(acme::decide_renewal(in, failed_at).next_check, failed_at + 20min);
}

// RFC 9773 4.2: with the CA's suggested window, renewal is due at the chosen point inside it
// (earlier than a third of the lifetime when the CA asks, e.g. after a revocation), and at
// once when the window is over; failures still back off.
TEST(AcmeRenewal, RenewalInformationWindowDecides) {
    acme::renewal_input in;
    in.not_before = t0;
    in.not_after = t0 + 90 * day;
    in.ari_window = std::make_pair(t0 + 10 * day, t0 + 12 * day);
    in.ari_fraction = 0.25;
    auto d = acme::decide_renewal(in, t0 + 5 * day);
    EXPECT_FALSE(d.renew_now);
    EXPECT_EQ(d.due, t0 + 10 * day + 12h);
    EXPECT_TRUE(acme::decide_renewal(in, t0 + 10 * day + 12h).renew_now);
    EXPECT_TRUE(acme::decide_renewal(in, t0 + 30 * day).renew_now) << "window over: now";
    in.ari_fraction = 7.0; // out of range: clamped to the window's end
    EXPECT_EQ(acme::decide_renewal(in, t0).due, t0 + 12 * day);

    // A window later than a third of the lifetime moves renewal later.
    in.ari_window = std::make_pair(t0 + 70 * day, t0 + 71 * day);
    in.ari_fraction = 0.0;
    EXPECT_FALSE(acme::decide_renewal(in, t0 + 65 * day).renew_now);
    EXPECT_EQ(acme::decide_renewal(in, t0 + 65 * day).due, t0 + 70 * day);

    // Failures back off inside the window too.
    in.consecutive_failures = 1;
    in.last_attempt = t0 + 70 * day;
    auto f = acme::decide_renewal(in, t0 + 70 * day + 1min);
    EXPECT_FALSE(f.renew_now);
    EXPECT_EQ(f.next_check, t0 + 70 * day + acme::renewal_backoff_base);
}
