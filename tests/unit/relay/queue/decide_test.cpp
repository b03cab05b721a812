// The queue manager's pure decisions: every branch of apply/plan/decide with an injected clock
// and a seeded rng (jitter 0 where exact times are checked), plus whole message lives.
#include "queue/decide.hpp"

#include <gtest/gtest.h>

using namespace splitmail;
using namespace splitmail::relay;
using queue::rcpt_route;
using queue::rcpt_state;
using std::chrono::days;
using std::chrono::hours;
using std::chrono::minutes;
using std::chrono::seconds;

namespace {

const sys_time t0 = sys_time{seconds{1'700'000'000}};

queue::recipient rcpt(std::string addr, rcpt_route route, rcpt_state st = rcpt_state::pending) {
    queue::recipient r;
    r.address = std::move(addr);
    r.route = route;
    r.state = st;
    return r;
}

queue::envelope env_with(std::vector<queue::recipient> rs) {
    queue::envelope e;
    e.id = "X";
    e.sender = "alice@example.org";
    e.recipients = std::move(rs);
    e.arrival = t0;
    return e;
}

queue_policy home_policy() {
    queue_policy p{.route = rcpt_route::home, .retry = {}, .bounce_each_attempt = false};
    p.retry.jitter = 0;
    p.retry.delay_warning = seconds{0};
    return p;
}

queue_policy remote_policy() {
    queue_policy p{.route = rcpt_route::remote, .retry = {}, .bounce_each_attempt = true};
    p.retry.jitter = 0;
    p.retry.lifetime = days{5};
    p.retry.delay_warning = hours{4};
    return p;
}

} // namespace

TEST(decide, classify_by_reply_class) {
    const std::pair<int, rcpt_outcome> table[] = {
        {250, rcpt_outcome::delivered}, {251, rcpt_outcome::delivered},
        {200, rcpt_outcome::delivered}, {550, rcpt_outcome::failed},
        {554, rcpt_outcome::failed},    {500, rcpt_outcome::failed},
        {450, rcpt_outcome::deferred},  {451, rcpt_outcome::deferred},
        {452, rcpt_outcome::deferred},  {0, rcpt_outcome::deferred},
        {354, rcpt_outcome::deferred},  {999, rcpt_outcome::deferred},
        {-1, rcpt_outcome::deferred},   {199, rcpt_outcome::deferred}};
    for (auto [code, want] : table) EXPECT_EQ(classify(code), want) << code;
}

TEST(decide, apply_result_sets_state_and_last_reply) {
    auto e = env_with({rcpt("a@x", rcpt_route::home), rcpt("b@x", rcpt_route::home),
                       rcpt("c@x", rcpt_route::home)});
    attempt_record at;
    EXPECT_EQ(apply_result(e, 0, {250, "2.0.0", "ok"}, at), rcpt_outcome::delivered);
    EXPECT_EQ(apply_result(e, 1, {550, "5.1.1", "no such user"}, at), rcpt_outcome::failed);
    EXPECT_EQ(apply_result(e, 2, {452, "", "mailbox full"}, at, "c@x: full"),
              rcpt_outcome::deferred);
    EXPECT_EQ(e.recipients[0].state, rcpt_state::delivered);
    EXPECT_EQ(e.recipients[1].state, rcpt_state::failed);
    EXPECT_EQ(e.recipients[1].last_code, 550);
    EXPECT_EQ(e.recipients[1].last_enhanced, "5.1.1");
    EXPECT_EQ(e.recipients[1].last_text, "no such user");
    EXPECT_EQ(e.recipients[2].state, rcpt_state::deferred);
    EXPECT_EQ(e.recipients[2].last_enhanced, ""); // stored as it came
    EXPECT_EQ(at.failed_now, std::vector<std::string>{"b@x"});
    EXPECT_EQ(at.error, "c@x: full");
    // A deferral without an error text keeps the record's error.
    apply_result(e, 2, {421, "4.4.2", "bye"}, at);
    EXPECT_EQ(at.error, "c@x: full");
}

TEST(decide, open_and_owner) {
    auto e = env_with({rcpt("a@ours", rcpt_route::home), rcpt("b@far", rcpt_route::remote)});
    EXPECT_EQ(owner(e), rcpt_route::home);
    e.recipients[0].state = rcpt_state::deferred;
    EXPECT_EQ(owner(e), rcpt_route::home); // deferred is still open
    e.recipients[0].state = rcpt_state::failed;
    EXPECT_EQ(owner(e), rcpt_route::remote);
    e.recipients[1].state = rcpt_state::delivered;
    EXPECT_EQ(owner(e), rcpt_route::home); // nothing open: finished under home's policy
    EXPECT_FALSE(has_open(e, rcpt_route::home));
    EXPECT_FALSE(has_open(e, rcpt_route::remote));
    EXPECT_EQ(other_route(rcpt_route::home), rcpt_route::remote);
    EXPECT_EQ(other_route(rcpt_route::remote), rcpt_route::home);
}

TEST(decide, expire_open_only_after_lifetime_and_only_this_route) {
    auto e = env_with({rcpt("a@ours", rcpt_route::home, rcpt_state::deferred),
                       rcpt("b@ours", rcpt_route::home, rcpt_state::delivered),
                       rcpt("c@far", rcpt_route::remote)});
    e.recipients[0].last_text = "mailbox full";
    auto why = [](const queue::recipient& r) { return "expired; last error: " + r.last_text; };
    EXPECT_TRUE(
        expire_open(e, rcpt_route::home, t0 + days{14} - seconds{1}, days{14}, why).empty());
    EXPECT_EQ(e.recipients[0].state, rcpt_state::deferred);
    auto failed = expire_open(e, rcpt_route::home, t0 + days{14}, days{14}, why); // >= lifetime
    EXPECT_EQ(failed, std::vector<std::string>{"a@ours"});
    EXPECT_EQ(e.recipients[0].state, rcpt_state::failed);
    EXPECT_EQ(e.recipients[0].last_code, 554);
    EXPECT_EQ(e.recipients[0].last_enhanced, "4.4.7");
    EXPECT_EQ(e.recipients[0].last_text, "expired; last error: mailbox full");
    EXPECT_EQ(e.recipients[1].state, rcpt_state::delivered); // final stays
    EXPECT_EQ(e.recipients[2].state, rcpt_state::pending);   // other route untouched
}

TEST(decide, home_bounces_every_failure_once_its_part_is_final) {
    auto p = home_policy();
    auto e = env_with({rcpt("a@ours", rcpt_route::home, rcpt_state::failed),
                       rcpt("b@ours", rcpt_route::home, rcpt_state::deferred)});
    attempt_record at;
    EXPECT_FALSE(plan_bounce(e, p, at).send); // b still open: wait
    e.recipients[1].state = rcpt_state::delivered;
    at.failed_now = {}; // a failed in an earlier attempt: still reported
    auto b = plan_bounce(e, p, at);
    EXPECT_TRUE(b.send);
    EXPECT_TRUE(b.only.empty()); // every failed recipient
    e.recipients[0].state = rcpt_state::delivered;
    EXPECT_FALSE(plan_bounce(e, p, at).send); // nothing failed: no bounce
}

TEST(decide, remote_bounces_each_attempts_failures_at_once) {
    auto p = remote_policy();
    auto e = env_with({rcpt("a@far", rcpt_route::remote, rcpt_state::failed),
                       rcpt("b@far", rcpt_route::remote, rcpt_state::deferred)});
    attempt_record at;
    EXPECT_FALSE(plan_bounce(e, p, at).send); // a failed earlier: already reported
    at.failed_now = {"a@far"};
    auto b = plan_bounce(e, p, at);
    EXPECT_TRUE(b.send);
    EXPECT_EQ(b.only, std::vector<std::string>{"a@far"});
}

TEST(decide, message_gone_is_dropped) {
    std::mt19937_64 rng(1);
    auto e = env_with({rcpt("a@ours", rcpt_route::home)});
    attempt_record at;
    at.message_gone = true;
    EXPECT_EQ(decide(e, home_policy(), at, true, t0, rng).step, next_step::drop);
    EXPECT_EQ(decide(e, remote_policy(), at, true, t0, rng).step, next_step::drop);
}

TEST(decide, final_part_removes_or_hands_over) {
    std::mt19937_64 rng(1);
    attempt_record at;
    auto e = env_with({rcpt("a@ours", rcpt_route::home, rcpt_state::delivered),
                       rcpt("b@far", rcpt_route::remote)});
    auto d = decide(e, home_policy(), at, true, t0, rng);
    EXPECT_EQ(d.step, next_step::hand_over);
    EXPECT_FALSE(d.count_attempt);
    e.recipients[1].state = rcpt_state::failed;
    EXPECT_EQ(decide(e, home_policy(), at, true, t0, rng).step, next_step::remove);
    EXPECT_EQ(decide(e, remote_policy(), at, true, t0, rng).step, next_step::remove);
}

TEST(decide, failed_bounce_keeps_the_message_and_retries_soon) {
    std::mt19937_64 rng(1);
    attempt_record at;
    auto e = env_with(
        {rcpt("a@ours", rcpt_route::home, rcpt_state::failed), rcpt("b@far", rcpt_route::remote)});
    for (auto p : {home_policy(), remote_policy()}) {
        auto ee = e;
        if (p.route == rcpt_route::remote) ee.recipients[1].state = rcpt_state::failed;
        auto d = decide(ee, p, at, false, t0 + hours{1}, rng);
        EXPECT_EQ(d.step, next_step::reschedule);
        EXPECT_FALSE(d.count_attempt);
        EXPECT_EQ(d.next_attempt, t0 + hours{1} + p.retry.initial);
        EXPECT_TRUE(d.delay_notice.empty());
    }
}

TEST(decide, open_recipients_back_off_and_count_the_attempt) {
    std::mt19937_64 rng(1);
    attempt_record at;
    auto e = env_with({rcpt("a@ours", rcpt_route::home, rcpt_state::deferred)});
    const int expect[] = {60, 120, 240, 480, 960, 1920, 3600, 3600, 3600};
    for (int i = 0; i < 9; ++i) {
        e.attempts = i;
        auto d = decide(e, home_policy(), at, true, t0 + hours{1}, rng);
        EXPECT_EQ(d.step, next_step::reschedule);
        EXPECT_TRUE(d.count_attempt);
        EXPECT_EQ(d.next_attempt, t0 + hours{1} + seconds{expect[i]}) << "attempts=" << i;
        EXPECT_TRUE(d.delay_notice.empty()); // home never sends delay notices
    }
}

// A stopping relay ends the jobs it did not start: that is not an attempt. The envelope is
// written due now (tried first thing after the restart), its count unchanged, no notice.
TEST(decide, cut_short_by_a_stop_is_not_an_attempt) {
    std::mt19937_64 rng(1);
    attempt_record at;
    at.cut_short = true;
    auto p = remote_policy();
    auto e = env_with({rcpt("a@far", rcpt_route::remote, rcpt_state::delivered),
                       rcpt("b@far", rcpt_route::remote, rcpt_state::pending)});
    e.attempts = 3;
    const auto now = t0 + hours{5}; // past the delay warning time
    auto d = decide(e, p, at, true, now, rng);
    EXPECT_EQ(d.step, next_step::reschedule);
    EXPECT_FALSE(d.count_attempt);
    EXPECT_EQ(d.next_attempt, now);
    EXPECT_TRUE(d.delay_notice.empty());
    // Nothing left open: the usual end (the flag changes nothing there).
    e.recipients[1].state = rcpt_state::delivered;
    EXPECT_EQ(decide(e, p, at, true, now, rng).step, next_step::remove);
}

TEST(decide, next_attempt_never_after_the_lifetime) {
    std::mt19937_64 rng(1);
    attempt_record at;
    auto p = remote_policy(); // 5 days
    auto e = env_with({rcpt("a@far", rcpt_route::remote, rcpt_state::deferred)});
    e.attempts = 20;
    e.delay_warned = true;
    auto now = t0 + days{5} - minutes{10};
    auto d = decide(e, p, at, true, now, rng);
    EXPECT_EQ(d.next_attempt, t0 + days{5} + seconds{1}); // not now + 1h
    EXPECT_TRUE(expired(e.arrival, d.next_attempt, p.retry.lifetime));
    // Home's lifetime too (14 days).
    e.recipients[0].route = rcpt_route::home;
    d = decide(e, home_policy(), at, true, t0 + days{14} - seconds{30}, rng);
    EXPECT_EQ(d.next_attempt, t0 + days{14} + seconds{1});
}

TEST(decide, delay_notice_once_after_the_warning_time) {
    std::mt19937_64 rng(1);
    attempt_record at;
    auto p = remote_policy();
    auto e = env_with({rcpt("a@far", rcpt_route::remote, rcpt_state::deferred),
                       rcpt("b@far", rcpt_route::remote, rcpt_state::delivered),
                       rcpt("c@far", rcpt_route::remote, rcpt_state::pending)});
    EXPECT_TRUE(decide(e, p, at, true, t0 + hours{4} - seconds{1}, rng).delay_notice.empty());
    auto d = decide(e, p, at, true, t0 + hours{4}, rng);
    EXPECT_EQ(d.delay_notice, (std::vector<std::string>{"a@far", "c@far"}));
    e.delay_warned = true;
    EXPECT_TRUE(decide(e, p, at, true, t0 + hours{5}, rng).delay_notice.empty());
    e.delay_warned = false; // after the lifetime: the bounce says it all
    EXPECT_TRUE(decide(e, p, at, true, t0 + days{5}, rng).delay_notice.empty());
    p.retry.delay_warning = seconds{0}; // off
    EXPECT_TRUE(decide(e, p, at, true, t0 + hours{5}, rng).delay_notice.empty());
}

TEST(decide, jitter_is_reproducible_with_a_seed) {
    auto p = remote_policy();
    p.retry.jitter = 0.2;
    attempt_record at;
    auto e = env_with({rcpt("a@far", rcpt_route::remote, rcpt_state::deferred)});
    e.attempts = 2; // the third attempt: 4 min +-20%
    std::mt19937_64 r1(7), r2(7);
    auto a = decide(e, p, at, true, t0, r1).next_attempt;
    auto b = decide(e, p, at, true, t0, r2).next_attempt;
    EXPECT_EQ(a, b);
    EXPECT_GE(a, t0 + seconds{192});
    EXPECT_LE(a, t0 + seconds{288});
}

// A message to one local and one remote recipient, walked through its whole life as the
// manager would: home defers twice, delivers; the remote part then fails for one domain and
// is deferred until it expires.
TEST(decide, whole_life_home_then_remote) {
    std::mt19937_64 rng(1);
    auto e = env_with({rcpt("a@ours", rcpt_route::home), rcpt("b@far", rcpt_route::remote),
                       rcpt("c@other", rcpt_route::remote)});
    auto home = home_policy();
    auto remote = remote_policy();
    auto now = t0;
    EXPECT_EQ(owner(e), rcpt_route::home);
    for (int i = 0; i < 2; ++i) {
        attempt_record at;
        apply_result(e, 0, {451, "4.3.0", "try later"}, at);
        EXPECT_FALSE(plan_bounce(e, home, at).send);
        auto d = decide(e, home, at, true, now, rng);
        ASSERT_EQ(d.step, next_step::reschedule);
        ++e.attempts;
        now = d.next_attempt;
    }
    EXPECT_EQ(now, t0 + seconds{60 + 120});
    attempt_record at;
    apply_result(e, 0, {250, "2.0.0", "ok"}, at);
    EXPECT_FALSE(plan_bounce(e, home, at).send);
    ASSERT_EQ(decide(e, home, at, true, now, rng).step, next_step::hand_over);
    EXPECT_EQ(owner(e), rcpt_route::remote);

    attempt_record r1;
    apply_result(e, 1, {550, "5.1.1", "unknown"}, r1);
    apply_result(e, 2, {421, "4.4.2", "busy"}, r1, "other: busy");
    auto b = plan_bounce(e, remote, r1);
    EXPECT_EQ(b.only, std::vector<std::string>{"b@far"});
    auto d = decide(e, remote, r1, true, now, rng);
    EXPECT_EQ(d.step, next_step::reschedule);
    EXPECT_TRUE(d.count_attempt);

    now = t0 + days{5};
    auto gone = expire_open(e, rcpt_route::remote, now, remote.retry.lifetime,
                            [](const auto&) { return std::string("expired"); });
    EXPECT_EQ(gone, std::vector<std::string>{"c@other"});
    attempt_record last;
    last.failed_now = gone;
    EXPECT_EQ(plan_bounce(e, remote, last).only, gone);
    EXPECT_EQ(decide(e, remote, last, true, now, rng).step, next_step::remove);
    EXPECT_EQ(decide(e, remote, last, false, now, rng).step, next_step::reschedule);
}
