// Refused recipients per client network (issue 11 item 8): /24 and /64 keys, the window, and
// the memory bound with its eviction order.
#include <gtest/gtest.h>

#include "smtp_in/network_counter.hpp"

using namespace splitmail::relay;
using namespace std::chrono_literals;

TEST(network_counter, network_keys) {
    EXPECT_EQ(network_counter::network_of("192.0.2.7"), "192.0.2.0/24");
    EXPECT_EQ(network_counter::network_of("192.0.2.250"), "192.0.2.0/24");
    EXPECT_EQ(network_counter::network_of("::ffff:192.0.2.9"), "192.0.2.0/24");
    EXPECT_EQ(network_counter::network_of("2001:db8:1:2:aaaa::1"), "2001:db8:1:2::/64");
    EXPECT_EQ(network_counter::network_of("2001:db8:1:2:ffff:ffff:ffff:ffff"), "2001:db8:1:2::/64");
    EXPECT_NE(network_counter::network_of("2001:db8:1:3::1"),
              network_counter::network_of("2001:db8:1:2::1"));
    EXPECT_FALSE(network_counter::network_of("not an ip").has_value());
    EXPECT_FALSE(network_counter::network_of("").has_value());
}

TEST(network_counter, limit_per_network_within_the_window) {
    network_counter c({3, std::chrono::seconds(60), 100});
    const auto t0 = network_counter::clock::time_point{} + 1000s;
    for (int i = 0; i < 2; ++i) c.add("198.51.100." + std::to_string(i + 1), t0);
    EXPECT_FALSE(c.over_limit("198.51.100.77", t0));
    c.add("198.51.100.3", t0 + 10s); // third refusal from the same /24
    EXPECT_TRUE(c.over_limit("198.51.100.200", t0 + 10s));
    EXPECT_FALSE(c.over_limit("198.51.101.1", t0 + 10s)); // the next /24 is another network
    EXPECT_FALSE(c.over_limit("2001:db8::1", t0 + 10s));
    // The window starts at the first refusal and ends 60 s later.
    EXPECT_TRUE(c.over_limit("198.51.100.1", t0 + 59s));
    EXPECT_FALSE(c.over_limit("198.51.100.1", t0 + 60s));
    c.add("198.51.100.1", t0 + 61s); // a new window, count 1
    EXPECT_FALSE(c.over_limit("198.51.100.1", t0 + 61s));
    // IPv6 by /64.
    for (int i = 0; i < 3; ++i) c.add("2001:db8:0:1::" + std::to_string(i + 1), t0);
    EXPECT_TRUE(c.over_limit("2001:db8:0:1:ffff::9", t0));
    EXPECT_FALSE(c.over_limit("2001:db8:0:2::1", t0));
    c.add("garbage", t0); // ignored
    EXPECT_EQ(c.size(), 2u);
}

TEST(network_counter, memory_is_bounded_and_a_busy_network_survives_a_flood) {
    network_counter c({5, std::chrono::seconds(3600), 64});
    const auto t0 = network_counter::clock::time_point{} + 1000s;
    for (int i = 0; i < 5; ++i) c.add("203.0.113.9", t0); // the harvester, over the limit
    for (int i = 0; i < 10000; ++i) // a flood of one-probe networks from a big IPv6 block
        c.add("2001:db8:" + std::to_string(i % 65536) + "::1",
              t0 + std::chrono::milliseconds(100 * i));
    EXPECT_LE(c.size(), 64u);
    EXPECT_TRUE(c.over_limit("203.0.113.1", t0 + 1500s));
    // Expired entries make room first.
    network_counter d({1, std::chrono::seconds(10), 2});
    d.add("192.0.2.1", t0);
    d.add("192.0.3.1", t0 + 20s);
    d.add("192.0.4.1", t0 + 21s); // the first has expired and goes
    EXPECT_EQ(d.size(), 2u);
    EXPECT_TRUE(d.over_limit("192.0.3.1", t0 + 21s));
    EXPECT_TRUE(d.over_limit("192.0.4.1", t0 + 21s));
}
