// The login brake (issue 11 items 2, 3, 5, 6, 9) with a fake clock: per-user and per-network
// counting, attempts in flight, exponential delay, lockout and its end, the owner's known
// network, bounded memory; and the one login normalisation.
#include "splitmail/auth/brake.hpp"
#include "splitmail/net/network.hpp"
#include "splitmail/auth/settings.hpp"
#include "splitmail/users/database.hpp"

#include <gtest/gtest.h>

using namespace splitmail::auth;
using namespace std::chrono_literals;
using outcome = brake::outcome;

namespace {
const clock::time_point t0 = clock::time_point{} + 1000h;

brake_policy small() {
    brake_policy p;
    p.max_user_failures = 3;
    p.max_network_failures = 6;
    p.window = 10min;
    p.lockout = 5min;
    p.base_delay = 100ms;
    p.max_delay = 1000ms;
    return p;
}

// One complete attempt; returns the delay, or -1ms when refused.
std::chrono::milliseconds attempt(brake& b, std::string_view user, std::string_view ip, outcome o,
                                  clock::time_point now) {
    auto a = b.begin(user, ip, now);
    if (!a.admitted) return -1ms;
    return b.end(a, o, now);
}
} // namespace

TEST(client_network, groups_ipv4_by_24_and_ipv6_by_64) {
    EXPECT_EQ(splitmail::net::client_network("203.0.113.7"), "203.0.113.0/24");
    EXPECT_EQ(splitmail::net::client_network("::ffff:203.0.113.200"), "203.0.113.0/24");
    EXPECT_EQ(splitmail::net::client_network("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
    EXPECT_EQ(splitmail::net::client_network("[2001:db8::1]"), "2001:db8::/64");
    EXPECT_EQ(splitmail::net::client_network("garbage"), "garbage");
}

TEST(brake, delay_grows_exponentially_then_user_is_locked_across_networks) {
    brake b(small());
    EXPECT_EQ(attempt(b, "a@x.test", "192.0.2.1", outcome::failure, t0), 100ms);
    EXPECT_EQ(attempt(b, "a@x.test", "198.51.100.1", outcome::failure, t0 + 1s), 200ms);
    EXPECT_EQ(attempt(b, "a@x.test", "203.0.113.1", outcome::failure, t0 + 2s), 400ms);
    // Locked now, from any network, even with the right password: not even verified.
    auto a = b.begin("a@x.test", "203.0.113.99", t0 + 3s);
    EXPECT_FALSE(a.admitted);
    EXPECT_EQ(a.why, brake::refusal::user_locked);
    EXPECT_GT(a.delay, 0ms);
    EXPECT_EQ(b.end(a, outcome::success, t0 + 3s), 0ms); // nothing to end
    // Another user from the same networks is not locked.
    EXPECT_EQ(attempt(b, "b@x.test", "192.0.2.1", outcome::success, t0 + 3s), 0ms);
    // The lockout ends; the count starts afresh.
    EXPECT_EQ(attempt(b, "a@x.test", "192.0.9.1", outcome::failure, t0 + 2s + 5min + 1s), 100ms);
}

TEST(brake, failures_older_than_the_window_are_forgotten) {
    brake b(small());
    attempt(b, "a@x.test", "192.0.2.1", outcome::failure, t0);
    attempt(b, "a@x.test", "192.0.2.1", outcome::failure, t0 + 1s);
    EXPECT_EQ(attempt(b, "a@x.test", "192.0.2.1", outcome::failure, t0 + 11min), 100ms);
    EXPECT_TRUE(b.begin("a@x.test", "192.0.2.1", t0 + 11min).admitted);
}

TEST(brake, attempts_in_flight_count_before_their_verdict) {
    brake b(small());
    // Three parallel guesses reserve every slot; a fourth is refused before any verdict.
    auto a1 = b.begin("a@x.test", "192.0.2.1", t0);
    auto a2 = b.begin("a@x.test", "192.0.2.2", t0);
    auto a3 = b.begin("a@x.test", "192.0.2.3", t0);
    ASSERT_TRUE(a1.admitted && a2.admitted && a3.admitted);
    auto right = b.begin("a@x.test", "192.0.2.4", t0);
    EXPECT_FALSE(right.admitted);
    EXPECT_EQ(right.why, brake::refusal::in_flight);
    b.end(a1, outcome::failure, t0);
    b.end(a2, outcome::failure, t0);
    b.end(a3, outcome::failure, t0);
    EXPECT_FALSE(b.begin("a@x.test", "192.0.2.4", t0).admitted); // now locked for real
    // A neutral end (home could not answer) gives the slot back without a failure.
    brake c(small());
    auto n = c.begin("a@x.test", "192.0.2.1", t0);
    EXPECT_EQ(c.end(n, outcome::neutral, t0), 0ms);
    EXPECT_EQ(c.end(n, outcome::failure, t0), 0ms); // second end: ignored
    for (int i = 0; i < 2; ++i) attempt(c, "a@x.test", "192.0.2.1", outcome::failure, t0);
    EXPECT_TRUE(c.begin("a@x.test", "192.0.2.1", t0).admitted);
}

TEST(brake, network_is_locked_after_failures_for_many_users) {
    brake b(small());
    for (int i = 0; i < 6; ++i)
        attempt(b, "u" + std::to_string(i) + "@x.test", "192.0.2." + std::to_string(i + 1),
                outcome::failure, t0);
    auto a = b.begin("fresh@x.test", "192.0.2.200", t0 + 1s); // same /24
    EXPECT_FALSE(a.admitted);
    EXPECT_EQ(a.why, brake::refusal::network_locked);
    EXPECT_TRUE(b.begin("fresh@x.test", "192.0.3.1", t0 + 1s).admitted);
    // IPv6 hosts of one /64 share a counter.
    brake c(small());
    for (int i = 0; i < 6; ++i)
        attempt(c, "u" + std::to_string(i) + "@x.test", "2001:db8::" + std::to_string(i + 1),
                outcome::failure, t0);
    EXPECT_FALSE(c.begin("v@x.test", "2001:db8::ffff:1", t0).admitted);
    EXPECT_TRUE(c.begin("v@x.test", "2001:db8:0:1::1", t0).admitted);
}

TEST(brake, owner_known_network_is_not_starved_but_still_braked) {
    brake b(small());
    EXPECT_EQ(attempt(b, "a@x.test", "198.51.100.7", outcome::success, t0), 0ms); // the owner
    for (int i = 0; i < 3; ++i) attempt(b, "a@x.test", "203.0.113.9", outcome::failure, t0 + 1s);
    EXPECT_FALSE(b.begin("a@x.test", "203.0.113.9", t0 + 2s).admitted); // the attacker
    EXPECT_FALSE(b.begin("a@x.test", "192.0.2.1", t0 + 2s).admitted);   // anyone else
    // The owner's network (another host of the same /24) still gets in ...
    EXPECT_EQ(attempt(b, "a@x.test", "198.51.100.8", outcome::success, t0 + 3s), 0ms);
    // ... but its own failures for that user are braked and locked on their own.
    EXPECT_EQ(attempt(b, "a@x.test", "198.51.100.7", outcome::failure, t0 + 4s), 100ms);
    attempt(b, "a@x.test", "198.51.100.7", outcome::failure, t0 + 4s);
    attempt(b, "a@x.test", "198.51.100.7", outcome::failure, t0 + 4s);
    EXPECT_FALSE(b.begin("a@x.test", "198.51.100.7", t0 + 5s).admitted);
    // Known networks expire.
    brake c(small());
    attempt(c, "a@x.test", "198.51.100.7", outcome::success, t0);
    for (int i = 0; i < 3; ++i)
        attempt(c, "a@x.test", "203.0.113.9", outcome::failure, t0 + 31 * 24h);
    EXPECT_FALSE(c.begin("a@x.test", "198.51.100.7", t0 + 31 * 24h).admitted);
}

TEST(brake, memory_stays_bounded_under_a_spray) {
    auto p = small();
    p.max_entries = 50;
    brake b(p);
    for (int i = 0; i < 5000; ++i)
        attempt(b, "u" + std::to_string(i) + "@x.test",
                std::to_string(10 + i % 200) + "." + std::to_string(i / 200) + ".0.1",
                i % 7 ? outcome::failure : outcome::success, t0 + std::chrono::seconds(i));
    EXPECT_LE(b.entries(), 4u * 50u);
}

TEST(normalize_login, one_key_for_every_spelling) {
    using splitmail::users::normalize_login;
    EXPECT_EQ(normalize_login("alice@example.org").key, "alice@example.org");
    EXPECT_EQ(normalize_login("  alice@example.org").key, "alice@example.org");
    EXPECT_EQ(normalize_login(" Alice@EXAMPLE.org \t").key, "alice@example.org");
    EXPECT_TRUE(normalize_login(" Alice@EXAMPLE.org ").usable);
    auto bad = normalize_login("  NoDomain ");
    EXPECT_FALSE(bad.usable);
    EXPECT_EQ(bad.key, "nodomain");
    EXPECT_EQ(normalize_login(std::string(1000, 'a')).key.size(), 320u);
}

TEST(read_secret_text, trims_and_checks_the_pairing_secret) {
    using splitmail::auth::read_secret_text;
    const std::string s(64, 'a');
    EXPECT_EQ(read_secret_text(s + "\n"), s);
    EXPECT_EQ(read_secret_text("  " + s + "\r\n"), s);
    EXPECT_FALSE(read_secret_text("short\n"));
    EXPECT_FALSE(read_secret_text(s.substr(0, 20) + " " + s.substr(0, 20)));
    EXPECT_FALSE(read_secret_text(std::string(201, 'b')));
}
