// Mailbox parsing, canonical forms, quoting and routing-trap detection.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "splitmail/address/address.hpp"

using namespace splitmail::address;

TEST(address, accepted) {
    struct c {
        std::string in, local, domain;
        bool utf8 = false;
    };
    const std::vector<c> cases = {
        {"a@b", "a", "b"},
        {"First.Last@Example.COM", "First.Last", "example.com"},
        {"a+tag@x-y.example", "a+tag", "x-y.example"},
        {"!#$%&'*+-/=?^_`{|}~@x", "!#$%&'*+-/=?^_`{|}~", "x"},
        {"\"a b\"@x", "a b", "x"},
        {"\"a\\\"b\\\\c\"@x", "a\"b\\c", "x"},
        {"\"\"@x", "", "x"},
        {"u@[127.0.0.1]", "u", "[127.0.0.1]"},
        {"u@[IPv6:::1]", "u", "[ipv6:::1]"},
        {"u@1.2.3.4", "u", "1.2.3.4"},
        {"jörg@bücher.example", "jörg", "bücher.example", true},
        {"a@" + std::string(63, 'd') + ".x", "a", std::string(63, 'd') + ".x"},
    };
    for (const auto& tc : cases) {
        parse_info info;
        auto m = parse_mailbox(tc.in, &info);
        ASSERT_TRUE(m.has_value()) << tc.in << ": " << info.error;
        EXPECT_EQ(m->local, tc.local) << tc.in;
        EXPECT_EQ(m->domain, tc.domain) << tc.in;
        EXPECT_EQ(info.utf8, tc.utf8) << tc.in;
    }
}

TEST(address, refused) {
    const std::vector<std::string> cases = {
        "",
        "a",
        "@b",
        "a@",
        ".a@b",
        "a.@b",
        "a..b@c",
        "a b@c",
        "a@b c",
        "a@b.",
        "a@.b",
        "a@-b",
        "a@b-",
        "a@b_c",
        "a@" + std::string(64, 'd') + ".x",
        "a@" + std::string(300, 'd'),
        std::string(256, 'l') + "@x",
        "\"a@x",
        "\"a\"b@x",
        "\"a\x01\"@x",
        "\"a\\\x01\"@x",
        "a@[1.2.3]",
        "a@[1.2.3.4.5]",
        "a@[256.1.1.1]",
        "a@[1.2.3.4",
        "a@[IPv6:1::2::3]",
        "a@[x:1]",
        "a\xff@x",
        "a@b\xc3",
        "a\xc0\x80@x",
        "a@b@c",
        "a<b@c",
        "a(b)@c",
        std::string("a@[IPv6:::1\0\xff]", 14), // fuzz find: inet_pton stopped at the NUL
    };
    for (const auto& in : cases) {
        parse_info info;
        EXPECT_FALSE(parse_mailbox(in, &info).has_value()) << in;
        EXPECT_FALSE(info.error.empty()) << in;
    }
}

TEST(address, canonical_and_wire_form) {
    auto m = parse_mailbox("\"John Smith\"@Example.ORG");
    ASSERT_TRUE(m);
    EXPECT_EQ(m->canonical(), "john smith@example.org");
    EXPECT_EQ(m->to_string(), "\"John Smith\"@example.org");
    auto q = parse_mailbox("\"john\"@x"); // quoting that is not needed is not significant
    ASSERT_TRUE(q);
    EXPECT_EQ(q->to_string(), "john@x");
    EXPECT_EQ(*q, *parse_mailbox("john@x"));
    EXPECT_EQ(quote_local_part("a\"b"), "\"a\\\"b\"");
    EXPECT_EQ(quote_local_part("a.b"), "a.b");
    EXPECT_EQ(quote_local_part("a..b"), "\"a..b\"");
    EXPECT_TRUE(local_part_needs_quoting(""));
    EXPECT_EQ(lower_ascii("ÄBC"), "Äbc");
    // round trip: wire form parses back to the same mailbox
    for (std::string s : {"\"a b\"@x", "\"a\\\\\\\"\"@y", "x.y@z"}) {
        auto a = parse_mailbox(s);
        ASSERT_TRUE(a) << s;
        auto b = parse_mailbox(a->to_string());
        ASSERT_TRUE(b) << a->to_string();
        EXPECT_EQ(*a, *b);
    }
}

TEST(address, routing_traps_never_route) {
    auto pct = parse_mailbox("user%foreign.example@example.test");
    ASSERT_TRUE(pct);
    EXPECT_EQ(pct->domain, "example.test");
    EXPECT_TRUE(is_routing_trap(*pct));
    auto bang = parse_mailbox("foreign.example!user@example.test");
    ASSERT_TRUE(bang);
    EXPECT_EQ(bang->domain, "example.test");
    EXPECT_TRUE(is_routing_trap(*bang));
    auto at = parse_mailbox("\"a@foreign.example\"@example.test");
    ASSERT_TRUE(at);
    EXPECT_EQ(at->domain, "example.test");
    EXPECT_TRUE(is_routing_trap(*at));
    EXPECT_FALSE(is_routing_trap(*parse_mailbox("plain@example.test")));
}

TEST(address, utf8_validation) {
    EXPECT_TRUE(valid_utf8("abc"));
    EXPECT_TRUE(valid_utf8("\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80"));
    EXPECT_FALSE(valid_utf8("\xc3"));
    EXPECT_FALSE(valid_utf8("\xe0\x80\x80"));     // overlong
    EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));     // surrogate
    EXPECT_FALSE(valid_utf8("\xf4\x90\x80\x80")); // > U+10FFFF
    EXPECT_FALSE(valid_utf8("a\x01"));
    EXPECT_TRUE(is_ascii("abc"));
    EXPECT_FALSE(is_ascii("\xc3\xa9"));
}
