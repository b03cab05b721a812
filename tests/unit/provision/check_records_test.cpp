// Unit tests of provision/check/records: canonical forms, RRset comparison, reverse names
// (wire rdata -> text is common/dns: tests/unit/common/dns/rdata_test.cpp).
#include "check/records.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace splitmail::provision::check;

TEST(CheckRecords, TxtStrings) {
    EXPECT_EQ(parse_txt_strings("\"a b\" \"c\""), (std::vector<std::string>{"a b", "c"}));
    EXPECT_EQ(parse_txt_strings("\"x\\\"y\\\\z\\065\""), (std::vector<std::string>{"x\"y\\zA"}));
    EXPECT_EQ(parse_txt_strings("v=spf1 -all"), (std::vector<std::string>{"v=spf1 -all"}));
    EXPECT_FALSE(parse_txt_strings("\"open"));
    EXPECT_FALSE(parse_txt_strings("\"a\" b"));
    EXPECT_FALSE(parse_txt_strings("\"\\999\""));
    EXPECT_FALSE(parse_txt_strings("\"" + std::string(256, 'a') + "\""));
    EXPECT_EQ(txt_joined("\"v=DKIM1; k=rsa; \" \"p=AB\""), "v=DKIM1; k=rsa; p=AB");
}

TEST(CheckRecords, CanonicalForms) {
    EXPECT_EQ(canonical(rr_type::mx, "10 MX.example.com"),
              canonical(rr_type::mx, "10 mx.example.com."));
    EXPECT_NE(canonical(rr_type::mx, "10 mx.example.com."),
              canonical(rr_type::mx, "20 mx.example.com."));
    EXPECT_EQ(canonical(rr_type::aaaa, "2001:0db8:0::25"), "2001:db8::25");
    EXPECT_FALSE(canonical(rr_type::a, "2001:db8::25"));
    EXPECT_FALSE(canonical(rr_type::aaaa, "192.0.2.1"));
    EXPECT_EQ(canonical(rr_type::tlsa, "3 1 1 ABCD ef01"), "3 1 1 abcdef01");
    EXPECT_FALSE(canonical(rr_type::tlsa, "3 1 1 abc"));
    EXPECT_FALSE(canonical(rr_type::tlsa, "3 1 256 ab"));
    EXPECT_EQ(canonical(rr_type::txt, "\"v=spf1 \" \"-all\""),
              canonical(rr_type::txt, "\"v=spf1 -all\""));
    EXPECT_EQ(canonical(rr_type::srv, "0 1 465 MX.example.com"), "0 1 465 mx.example.com.");
    EXPECT_FALSE(canonical(rr_type::srv, "0 1 70000 mx.example.com."));
}

TEST(CheckRecords, CompareRrset) {
    auto same =
        compare_rrset(rr_type::txt, {"\"v=DMARC1; p=none\""}, {"\"v=DMARC1; \" \"p=none\""});
    EXPECT_TRUE(same.same());
    auto d = compare_rrset(rr_type::a, {"203.0.113.5"}, {"203.0.113.5", "198.51.100.7"});
    EXPECT_FALSE(d.same());
    EXPECT_TRUE(d.missing.empty());
    EXPECT_EQ(d.extra, std::vector<std::string>{"198.51.100.7"});
    auto m = compare_rrset(rr_type::mx, {"10 mx.example.com."}, {});
    EXPECT_EQ(m.missing, std::vector<std::string>{"10 mx.example.com."});
    auto u = compare_rrset(rr_type::a, {"not an address"}, {});
    EXPECT_EQ(u.unparsed.size(), 1u);
    EXPECT_FALSE(u.same());
}

TEST(CheckRecords, ReverseNames) {
    EXPECT_EQ(reverse_name("203.0.113.5"), "5.113.0.203.in-addr.arpa");
    EXPECT_EQ(reverse_name("2001:db8::25"),
              "5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
    EXPECT_FALSE(reverse_name("mx.example.com"));
}
