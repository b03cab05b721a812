// Unit tests of provision/check/records: wire rdata -> presentation text, canonical forms,
// RRset comparison, reverse names.
#include "check/records.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace splitmail::provision::check;

namespace {
std::vector<std::uint8_t> bytes(std::initializer_list<int> v) {
    std::vector<std::uint8_t> out;
    for (int x : v) out.push_back(static_cast<std::uint8_t>(x));
    return out;
}
std::vector<std::uint8_t> name_wire(const std::string& dotted) {
    std::vector<std::uint8_t> out;
    std::size_t pos = 0;
    while (pos < dotted.size()) {
        auto dot = dotted.find('.', pos);
        auto label = dotted.substr(pos, dot - pos);
        out.push_back(static_cast<std::uint8_t>(label.size()));
        out.insert(out.end(), label.begin(), label.end());
        pos = dot == std::string::npos ? dotted.size() : dot + 1;
    }
    out.push_back(0);
    return out;
}
} // namespace

TEST(CheckRecords, RdataToText) {
    EXPECT_EQ(rdata_to_text(rr_type::a, bytes({203, 0, 113, 5})), "203.0.113.5");
    auto v6 = bytes({0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x25});
    EXPECT_EQ(rdata_to_text(rr_type::aaaa, v6), "2001:db8::25");
    auto mx = bytes({0, 10});
    auto n = name_wire("MX.Example.com");
    mx.insert(mx.end(), n.begin(), n.end());
    EXPECT_EQ(rdata_to_text(rr_type::mx, mx), "10 mx.example.com.");
    auto srv = bytes({0, 0, 0, 1, 0x01, 0xd1});
    srv.insert(srv.end(), n.begin(), n.end());
    EXPECT_EQ(rdata_to_text(rr_type::srv, srv), "0 1 465 mx.example.com.");
    EXPECT_EQ(rdata_to_text(rr_type::srv, bytes({0, 0, 0, 0, 0, 0, 0})), "0 0 0 .");
    EXPECT_EQ(rdata_to_text(rr_type::ptr, n), "mx.example.com.");
    EXPECT_EQ(rdata_to_text(rr_type::tlsa, bytes({3, 1, 1, 0xab, 0xCD})), "3 1 1 abcd");
    auto txt = bytes({3, 'a', '"', 'b', 2, 'c', 0x01});
    EXPECT_EQ(rdata_to_text(rr_type::txt, txt), "\"a\\\"b\" \"c\\001\"");
    EXPECT_EQ(rdata_to_text(rr_type::txt, bytes({0})), "\"\"");
}

TEST(CheckRecords, RdataRefusesMalformed) {
    EXPECT_FALSE(rdata_to_text(rr_type::a, bytes({1, 2, 3})));
    EXPECT_FALSE(rdata_to_text(rr_type::aaaa, bytes({1, 2, 3, 4})));
    EXPECT_FALSE(rdata_to_text(rr_type::mx, bytes({0, 10, 3, 'a', 'b'}))); // short label
    EXPECT_FALSE(rdata_to_text(rr_type::mx, bytes({0, 10, 0xc0, 0x0c})));  // pointer
    EXPECT_FALSE(rdata_to_text(rr_type::ptr, bytes({1, 'a', 0, 1})));      // trailing byte
    EXPECT_FALSE(rdata_to_text(rr_type::txt, bytes({5, 'a', 'b'})));       // length > data
    EXPECT_FALSE(rdata_to_text(rr_type::txt, {}));
    EXPECT_FALSE(rdata_to_text(rr_type::tlsa, bytes({3, 1, 1}))); // no data
    std::vector<std::uint8_t> long_name;
    for (int i = 0; i < 5; ++i) {
        long_name.push_back(63);
        long_name.insert(long_name.end(), 63, 'a');
    }
    long_name.push_back(0);
    EXPECT_FALSE(rdata_to_text(rr_type::ptr, long_name)); // > 255 octets
}

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

TEST(CheckRecords, TypeNames) {
    EXPECT_EQ(parse_rr_type("tlsa"), rr_type::tlsa);
    EXPECT_EQ(to_string(rr_type::aaaa), "AAAA");
    EXPECT_FALSE(parse_rr_type("CAA"));
}
