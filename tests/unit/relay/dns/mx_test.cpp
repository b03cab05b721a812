// MX record parsing and ordering (relay/dns/mx.hpp), resolver address syntax.
#include <gtest/gtest.h>

#include "dns/mx.hpp"
#include "dns/resolver.hpp"

#include <map>

using namespace splitmail::relay::dns;

namespace {
std::vector<std::uint8_t> wire(std::initializer_list<std::string> labels) {
    std::vector<std::uint8_t> out;
    for (const auto& l : labels) {
        out.push_back(static_cast<std::uint8_t>(l.size()));
        out.insert(out.end(), l.begin(), l.end());
    }
    out.push_back(0);
    return out;
}
std::vector<std::uint8_t> mx(std::uint16_t pref, std::initializer_list<std::string> labels) {
    std::vector<std::uint8_t> out = {static_cast<std::uint8_t>(pref >> 8),
                                     static_cast<std::uint8_t>(pref & 0xff)};
    auto n = wire(labels);
    out.insert(out.end(), n.begin(), n.end());
    return out;
}
} // namespace

TEST(dns_mx, parses_mx_rdata_lower_case) {
    auto r = parse_mx_rdata(mx(10, {"MX1", "Example", "com"}));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->preference, 10);
    EXPECT_EQ(r->exchange, "mx1.example.com");
}

TEST(dns_mx, a_label_with_a_dot_stays_one_label) {
    // The exchange is zone-file text (common/dns): "a.b" as one label is "a\.b", so it is
    // not looked up as the two labels "a" and "b" (before: "a.b.example.com").
    auto r = parse_mx_rdata(mx(10, {"a.b", "example", "com"}));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exchange, "a\\.b.example.com");
    auto ptr = parse_wire_name(wire({"x y", "example"}));
    EXPECT_EQ(ptr.value_or("?"), "x\\032y.example");
}

TEST(dns_mx, null_mx_is_root_exchange) {
    auto r = parse_mx_rdata(mx(0, {}));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->exchange, "");
    EXPECT_TRUE(is_null_mx({*r}));
    // RFC 7505 3: only a single "0 ." record is a null MX.
    EXPECT_FALSE(is_null_mx({*r, mx_record{10, "mx.example.com"}}));
    EXPECT_FALSE(is_null_mx({mx_record{10, ""}}));
    EXPECT_FALSE(is_null_mx({}));
}

TEST(dns_mx, refuses_malformed_rdata) {
    EXPECT_FALSE(parse_mx_rdata({}));
    std::vector<std::uint8_t> shortname = {0, 10, 3, 'a', 'b'};
    EXPECT_FALSE(parse_mx_rdata(shortname));
    std::vector<std::uint8_t> pointer = {0, 10, 0xc0, 0x0c};
    EXPECT_FALSE(parse_mx_rdata(pointer)); // compression pointers are not valid in rdata
    auto trailing = mx(10, {"a", "b"});
    trailing.push_back(7);
    EXPECT_FALSE(parse_mx_rdata(trailing));
    std::vector<std::uint8_t> nonterminated = {0, 10, 1, 'a'};
    EXPECT_FALSE(parse_mx_rdata(nonterminated));
    // A name longer than 255 octets.
    std::vector<std::uint8_t> longname = {0, 1};
    for (int i = 0; i < 5; ++i) {
        longname.push_back(63);
        longname.insert(longname.end(), 63, 'x');
    }
    longname.push_back(0);
    EXPECT_FALSE(parse_mx_rdata(longname));
}

TEST(dns_mx, parses_addresses) {
    std::vector<std::uint8_t> a = {192, 0, 2, 25};
    EXPECT_EQ(parse_a_rdata(a).value_or(""), "192.0.2.25");
    std::vector<std::uint8_t> aaaa(16, 0);
    aaaa[15] = 1;
    EXPECT_EQ(parse_aaaa_rdata(aaaa).value_or(""), "::1");
    EXPECT_FALSE(parse_a_rdata(aaaa));
    EXPECT_FALSE(parse_aaaa_rdata(a));
}

TEST(dns_mx, orders_by_preference_and_shuffles_ties) {
    std::vector<mx_record> in = {{20, "c"}, {10, "a"}, {10, "b"}, {30, "d"}, {5, ""}, {40, "a"}};
    std::map<std::string, int> first;
    for (int seed = 0; seed < 200; ++seed) {
        std::mt19937_64 rng(seed);
        auto out = order_mx(in, rng);
        ASSERT_EQ(out.size(), 4u); // root target dropped, duplicate "a" kept once (best)
        EXPECT_EQ(out[0].preference, 10);
        EXPECT_EQ(out[1].preference, 10);
        EXPECT_EQ(out[2].exchange, "c");
        EXPECT_EQ(out[3].exchange, "d");
        ++first[out[0].exchange];
    }
    // RFC 5321 5.1: equal preferences are randomised; both appear first sometimes.
    EXPECT_GT(first["a"], 40);
    EXPECT_GT(first["b"], 40);
}

TEST(dns_resolver, unreachable_forwarder_is_a_temporary_error) {
    // Port 9 on loopback (discard) has no DNS server: the answer must be "try again later",
    // never a permanent status that would bounce mail.
    auto r = unbound_resolver::create({"127.0.0.1:9", 1});
    ASSERT_TRUE(r) << r.error();
    auto a = (*r)->lookup("example.test");
    EXPECT_EQ(a.status, mx_status::temp_error) << a.error;
    EXPECT_FALSE(a.error.empty());
}
