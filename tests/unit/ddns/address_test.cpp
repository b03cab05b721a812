#include "address.hpp"

#include <gtest/gtest.h>

namespace splitmail::ddns {
namespace {

address_class cls(const char* text) {
    auto a = parse_ip(text);
    EXPECT_TRUE(a) << text;
    return a ? classify(*a) : address_class::reserved;
}

TEST(DdnsAddress, ParseStrict) {
    EXPECT_TRUE(parse_ip("81.2.69.160"));
    EXPECT_TRUE(parse_ip("2a01:4f8::1"));
    for (const char* bad : {"", "81.2.69", "81.2.69.160.1", "081.2.69.160", "256.1.1.1", "1.2.3.4 ",
                            "fe80::1%eth0", "2a01:::1", "0x51.2.69.160", "::g", "1.2.3.4/24"})
        EXPECT_FALSE(parse_ip(bad)) << bad;
    EXPECT_FALSE(parse_ip(std::string_view("1.2.3.4\0", 8)));
    EXPECT_EQ(parse_ip("2A01:04F8:0000::0001")->to_string(), "2a01:4f8::1"); // RFC 5952
}

TEST(DdnsAddress, AnswerBody) {
    EXPECT_EQ(parse_ip_answer("81.2.69.160\n", family::v4)->to_string(), "81.2.69.160");
    EXPECT_EQ(parse_ip_answer(" \r\n2a01:4f8::1\r\n", family::v6)->to_string(), "2a01:4f8::1");
    EXPECT_FALSE(parse_ip_answer("", family::v4));
    EXPECT_FALSE(parse_ip_answer("\n", family::v4));
    EXPECT_FALSE(parse_ip_answer("81.2.69.160 81.2.69.161", family::v4));
    EXPECT_FALSE(parse_ip_answer("<html>81.2.69.160</html>", family::v4));
    auto wrong = parse_ip_answer("2a01:4f8::1", family::v4);
    ASSERT_FALSE(wrong);
    EXPECT_NE(wrong.error().find("wanted IPv4"), std::string::npos);
}

TEST(DdnsAddress, ClassifyIpv4) {
    EXPECT_EQ(cls("81.2.69.160"), address_class::global);
    EXPECT_EQ(cls("100.63.255.255"), address_class::global);
    EXPECT_EQ(cls("100.64.0.0"), address_class::cgnat);
    EXPECT_EQ(cls("100.127.255.255"), address_class::cgnat);
    EXPECT_EQ(cls("100.128.0.0"), address_class::global);
    EXPECT_EQ(cls("10.1.2.3"), address_class::private_use);
    EXPECT_EQ(cls("172.16.0.1"), address_class::private_use);
    EXPECT_EQ(cls("172.31.255.255"), address_class::private_use);
    EXPECT_EQ(cls("172.32.0.1"), address_class::global);
    EXPECT_EQ(cls("192.168.1.1"), address_class::private_use);
    EXPECT_EQ(cls("127.0.0.1"), address_class::loopback);
    EXPECT_EQ(cls("169.254.1.1"), address_class::link_local);
    EXPECT_EQ(cls("192.0.2.1"), address_class::documentation);
    EXPECT_EQ(cls("198.51.100.1"), address_class::documentation);
    EXPECT_EQ(cls("203.0.113.9"), address_class::documentation);
    EXPECT_EQ(cls("198.18.0.1"), address_class::benchmarking);
    EXPECT_EQ(cls("198.20.0.1"), address_class::global);
    EXPECT_EQ(cls("0.0.0.0"), address_class::unspecified);
    EXPECT_EQ(cls("224.0.0.1"), address_class::multicast);
    EXPECT_EQ(cls("255.255.255.255"), address_class::reserved);
    EXPECT_EQ(cls("192.0.0.8"), address_class::reserved);
}

TEST(DdnsAddress, ClassifyIpv6) {
    EXPECT_EQ(cls("2a01:4f8:1:2::10"), address_class::global);
    EXPECT_EQ(cls("2001:db8::1"), address_class::documentation);
    EXPECT_EQ(cls("3fff::1"), address_class::documentation);
    EXPECT_EQ(cls("fe80::1"), address_class::link_local);
    EXPECT_EQ(cls("febf::1"), address_class::link_local);
    EXPECT_EQ(cls("fd00::2"), address_class::unique_local);
    EXPECT_EQ(cls("fc00::1"), address_class::unique_local);
    EXPECT_EQ(cls("::1"), address_class::loopback);
    EXPECT_EQ(cls("::"), address_class::unspecified);
    EXPECT_EQ(cls("ff02::1"), address_class::multicast);
    EXPECT_EQ(cls("::ffff:81.2.69.160"), address_class::reserved);
    EXPECT_EQ(cls("64:ff9b::1"), address_class::reserved);
    EXPECT_EQ(cls("fec0::1"), address_class::reserved);
    EXPECT_EQ(cls("2001:2::1"), address_class::benchmarking);
    EXPECT_EQ(cls("3ffe::1"), address_class::global); // inside 2000::/3, outside 3fff::/20
    EXPECT_TRUE(publishable(address_class::global));
    EXPECT_FALSE(publishable(address_class::cgnat));
}

} // namespace
} // namespace splitmail::ddns
