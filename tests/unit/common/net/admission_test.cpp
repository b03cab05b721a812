// Connection admission (net::admission): per-address, per-network and pool caps, the reserve
// for trusted/authenticated clients, fair-share eviction of idle connections, overload.
#include "splitmail/net/admission.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

using splitmail::net::admission;
using splitmail::net::admission_limits;

namespace {

admission_limits caps(std::size_t total, std::size_t per_ip, std::size_t per_net,
                      std::size_t pool) {
    admission_limits l;
    l.max_connections = total;
    l.max_per_ip = per_ip;
    l.max_per_network = per_net;
    l.max_unauthenticated = pool;
    return l;
}

// Admits and remembers which slots were closed by eviction.
struct harness {
    admission a;
    std::vector<admission::id> closed;
    explicit harness(admission_limits l) : a(l) {}
    admission::verdict admit(const std::string& ip, bool trusted = false) {
        auto slot = std::make_shared<admission::id>(0);
        auto v = a.admit(ip, trusted, [this, slot] { closed.push_back(*slot); });
        *slot = v.slot;
        return v;
    }
};

} // namespace

TEST(Admission, NetworkOfIsSlash24ForIpv4AndSlash64ForIpv6) {
    EXPECT_EQ(admission::network_of("192.0.2.77"), "192.0.2.0/24");
    EXPECT_EQ(admission::network_of("127.1.2.3"), "127.1.2.0/24");
    EXPECT_EQ(admission::network_of("::ffff:198.51.100.9"), "198.51.100.0/24");
    EXPECT_EQ(admission::network_of("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
    EXPECT_EQ(admission::network_of("2001:db8:1:2::9"), "2001:db8:1:2::/64");
    EXPECT_EQ(admission::network_of("not an address"), "not an address");
}

TEST(Admission, PerAddressCapRefusesAndReleaseFreesTheSlot) {
    harness h(caps(100, 2, 50, 80));
    auto a = h.admit("192.0.2.1");
    auto b = h.admit("192.0.2.1");
    ASSERT_NE(a.slot, 0u);
    ASSERT_NE(b.slot, 0u);
    auto c = h.admit("192.0.2.1");
    EXPECT_EQ(c.slot, 0u);
    EXPECT_EQ(c.reason, "too many connections from your address");
    EXPECT_NE(h.admit("192.0.2.2").slot, 0u) << "another address of the network is fine";
    h.a.release(a.slot);
    EXPECT_NE(h.admit("192.0.2.1").slot, 0u) << "a released slot is free again";
    EXPECT_EQ(h.a.total(), 3u);
}

TEST(Admission, PerNetworkCapCountsAllAddressesOfTheSlash24) {
    harness h(caps(100, 2, 5, 80));
    int admitted = 0;
    for (int i = 1; i <= 10; ++i)
        if (h.admit("198.51.100." + std::to_string(i)).slot) ++admitted;
    EXPECT_EQ(admitted, 5);
    auto v = h.admit("198.51.100.200");
    EXPECT_EQ(v.reason, "too many connections from your network");
    EXPECT_NE(h.admit("198.51.101.1").slot, 0u) << "the next /24 is another network";
    // IPv6: the /64 is the network.
    for (int i = 1; i <= 5; ++i) ASSERT_NE(h.admit("2001:db8:0:1::" + std::to_string(i)).slot, 0u);
    EXPECT_EQ(h.admit("2001:db8:0:1::99").reason, "too many connections from your network");
    EXPECT_NE(h.admit("2001:db8:0:2::1").slot, 0u);
}

TEST(Admission, PoolIsSmallerThanTotalSoTrustedClientsFindRoom) {
    harness h(caps(10, 5, 5, 6));
    // Six clients from six networks fill the pool; nobody has two more than a newcomer, so
    // a seventh untrusted client is refused rather than evicting anyone.
    for (int i = 1; i <= 6; ++i) ASSERT_NE(h.admit("10.0." + std::to_string(i) + ".1").slot, 0u);
    auto v = h.admit("10.0.9.1");
    EXPECT_EQ(v.slot, 0u);
    EXPECT_EQ(v.reason, "too many connections");
    EXPECT_TRUE(h.closed.empty());
    // Trusted clients use the reserve (and are not held to the per-address caps).
    for (int i = 0; i < 4; ++i) EXPECT_NE(h.admit("10.8.0.2", true).slot, 0u);
    EXPECT_EQ(h.a.total(), 10u);
    EXPECT_EQ(h.a.pool(), 6u);
}

TEST(Admission, AuthenticatedClientsLeaveThePoolAndItsCaps) {
    harness h(caps(10, 1, 5, 3));
    auto a = h.admit("192.0.2.1");
    ASSERT_NE(a.slot, 0u);
    EXPECT_EQ(h.admit("192.0.2.1").slot, 0u);
    h.a.authenticated(a.slot);
    EXPECT_EQ(h.a.pool(), 0u);
    EXPECT_EQ(h.a.total(), 1u);
    EXPECT_NE(h.admit("192.0.2.1").slot, 0u) << "the per-address cap counts the pool only";
    h.a.release(a.slot);
    EXPECT_EQ(h.a.total(), 1u);
    EXPECT_EQ(h.a.pool(), 1u);
}

TEST(Admission, FloodIsEvictedForANewcomerButNeverForItself) {
    harness h(caps(100, 10, 10, 8));
    std::vector<admission::id> flood;
    for (int i = 0; i < 8; ++i) {
        auto v = h.admit("203.0.113." + std::to_string(1 + i % 3));
        ASSERT_NE(v.slot, 0u);
        flood.push_back(v.slot);
    }
    // The pool is full; the flood's own network cannot push out its own connections.
    EXPECT_EQ(h.admit("203.0.113.50").reason, "too many connections");
    EXPECT_TRUE(h.closed.empty());
    // A client from another network gets in by closing the flood's oldest idle connection.
    auto legit = h.admit("192.0.2.10");
    ASSERT_NE(legit.slot, 0u);
    ASSERT_EQ(h.closed.size(), 1u);
    EXPECT_EQ(h.closed[0], flood[0]);
    EXPECT_EQ(legit.evicted_ip, "203.0.113.1");
    EXPECT_EQ(h.a.pool(), 8u);
    EXPECT_EQ(h.a.total(), 8u);
    // The evicted connection's own release (when its handler ends) changes no count.
    h.a.release(flood[0]);
    EXPECT_EQ(h.a.total(), 8u);
    // The flood (7 slots) cannot take the newcomer's slot back: it evicts only from networks
    // with at least two more slots than its own.
    EXPECT_EQ(h.admit("203.0.113.60").slot, 0u);
    EXPECT_EQ(h.closed.size(), 1u);
}

TEST(Admission, ClientsThatMadeProgressAreNeverEvicted) {
    harness h(caps(100, 10, 10, 4));
    std::vector<admission::id> s;
    for (int i = 0; i < 4; ++i) s.push_back(h.admit("203.0.113.1").slot);
    for (auto id : s) h.a.progressed(id);
    EXPECT_EQ(h.admit("192.0.2.1").reason, "too many connections");
    EXPECT_TRUE(h.closed.empty());
    h.a.release(s[0]);
    h.a.release(s[1]);
    auto fresh = h.admit("203.0.113.2");
    ASSERT_NE(fresh.slot, 0u);
    EXPECT_NE(h.admit("192.0.2.2").slot, 0u);
    // Pool full again (3 of 203.0.113/24, one of 192.0.2/24): only the idle one is taken.
    EXPECT_NE(h.admit("198.51.100.1").slot, 0u);
    ASSERT_EQ(h.closed.size(), 1u);
    EXPECT_EQ(h.closed[0], fresh.slot);
}

TEST(Admission, TrustedNewcomerEvictsIdleWhenTheTotalIsFull) {
    harness h(caps(4, 10, 10, 4));
    for (int i = 0; i < 4; ++i) ASSERT_NE(h.admit("198.51.100." + std::to_string(i)).slot, 0u);
    auto t = h.admit("10.8.0.2", true);
    ASSERT_NE(t.slot, 0u);
    EXPECT_EQ(h.closed.size(), 1u);
    EXPECT_EQ(h.a.total(), 4u);
    EXPECT_EQ(h.a.pool(), 3u);
}

TEST(Admission, OverloadedFromThreeQuartersOfPoolOrTotal) {
    harness h(caps(100, 100, 100, 8));
    std::vector<admission::id> s;
    for (int i = 0; i < 5; ++i) s.push_back(h.admit("192.0.2.1").slot);
    EXPECT_FALSE(h.a.overloaded());
    s.push_back(h.admit("192.0.2.1").slot);
    EXPECT_TRUE(h.a.overloaded()) << "6 of 8";
    h.a.authenticated(s[0]);
    EXPECT_FALSE(h.a.overloaded());
    admission unlimited(admission_limits{});
    EXPECT_FALSE(unlimited.overloaded());
}
