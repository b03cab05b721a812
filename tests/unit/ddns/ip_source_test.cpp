#include "ip_source.hpp"

#include <gtest/gtest.h>

#include "unit/common/desec/scripted_transport.hpp"

namespace splitmail::ddns {
namespace {

TEST(DdnsIpSource, ParseSpecs) {
    EXPECT_EQ(parse_ip_source("checkip")->type, ip_source::kind::checkip);
    EXPECT_EQ(parse_ip_source("off")->type, ip_source::kind::off);
    auto u = parse_ip_source("url:https://ip.example/v4");
    ASSERT_TRUE(u);
    EXPECT_EQ(u->type, ip_source::kind::url);
    EXPECT_EQ(u->argument, "https://ip.example/v4");
    auto i = parse_ip_source("interface:eth0");
    ASSERT_TRUE(i);
    EXPECT_EQ(i->argument, "eth0");
    EXPECT_EQ(to_string(*i), "interface:eth0");
    for (const char* bad : {"", "url:http://ip.example/", "url:", "interface:", "dns",
                            "interface:a/b", "interface:abcdefghijklmnopq", "CHECKIP"})
        EXPECT_FALSE(parse_ip_source(bad)) << bad;
}

std::vector<ip_address> addrs(std::initializer_list<const char*> l) {
    std::vector<ip_address> v;
    for (auto s : l) v.push_back(*parse_ip(s));
    return v;
}

TEST(DdnsIpSource, ChooseFirstGlobal) {
    auto v = addrs({"fe80::1", "fd00::2", "2a01:4f8::5", "2a01:4f8::6"});
    auto a = choose_address(v, family::v6, "interface eth0");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->to_string(), "2a01:4f8::5");
}

TEST(DdnsIpSource, CgnatOnlyExplainsTunnel) {
    auto v = addrs({"100.64.3.4"});
    auto a = choose_address(v, family::v4, "interface wan0");
    ASSERT_FALSE(a);
    EXPECT_EQ(a.error().type, detect_error::kind::refused);
    EXPECT_NE(a.error().message.find("100.64.3.4"), std::string::npos);
    EXPECT_NE(a.error().message.find("CGNAT"), std::string::npos);
    EXPECT_NE(a.error().message.find("WireGuard"), std::string::npos);
    auto p = choose_address(addrs({"192.168.0.2", "100.64.3.4"}), family::v4, "x");
    ASSERT_FALSE(p);
    EXPECT_NE(p.error().message.find("private"), std::string::npos);
    EXPECT_EQ(p.error().message.find("WireGuard"), std::string::npos);
    auto none = choose_address(addrs({"2a01:4f8::5"}), family::v4, "x");
    ASSERT_FALSE(none);
    EXPECT_EQ(none.error().type, detect_error::kind::transient);
}

TEST(DdnsIpSource, LoopbackInterfaceIsRefused) {
    auto list = interface_addresses("lo", family::v4);
    ASSERT_TRUE(list) << list.error();
    ASSERT_FALSE(list->empty());
    auto a = choose_address(*list, family::v4, "interface lo");
    ASSERT_FALSE(a);
    EXPECT_EQ(a.error().type, detect_error::kind::refused);
    EXPECT_FALSE(interface_addresses("no-such-if0", family::v4));
}

TEST(DdnsIpSource, StableIpv6FromIfInet6) {
    const char* text =
        "2a0100000000000000000000000000aa 02 40 00 00 eth0\n" // stable global
        "2a0100000000000000000000000000bb 02 40 00 01 eth0\n" // temporary (RFC 8981)
        "2a0100000000000000000000000000cc 02 40 00 20 eth0\n" // deprecated
        "2a0100000000000000000000000000dd 02 40 00 40 eth0\n" // tentative
        "2a0100000000000000000000000000ee 03 40 00 80 eth1\n" // other interface
        "fe8000000000000000fc00fffe000001 02 40 20 80 eth0\n" // link-local, permanent
        "garbage line\n";
    auto v = stable_ipv6_from_if_inet6(text, "eth0");
    ASSERT_EQ(v.size(), 2u);
    EXPECT_EQ(v[0].to_string(), "2a01::aa");
    EXPECT_EQ(v[1].to_string(), "fe80::fc:ff:fe00:1");
    auto chosen = choose_address(v, family::v6, "interface eth0");
    ASSERT_TRUE(chosen);
    EXPECT_EQ(chosen->to_string(), "2a01::aa");
    EXPECT_TRUE(stable_ipv6_from_if_inet6("", "eth0").empty());
}

TEST(DdnsIpSource, UrlSourceThroughTransport) {
    desec::testing::scripted_transport t;
    detector_config cfg;
    cfg.v4 = *parse_ip_source("url:https://ip.test/4");
    cfg.v6 = *parse_ip_source("checkip");
    source_detector d(cfg, t);
    t.push(200, "81.2.69.160\n");
    auto a = d.detect(family::v4);
    ASSERT_TRUE(a);
    EXPECT_EQ(a->to_string(), "81.2.69.160");
    EXPECT_EQ(t.requests[0].url, "https://ip.test/4");
    t.push(200, "2a01:4f8::9");
    ASSERT_TRUE(d.detect(family::v6));
    EXPECT_EQ(t.requests[1].url, "https://checkipv6.dedyn.io/");
    EXPECT_EQ(t.requests[1].ip_version, 6);
    t.push(200, "10.0.0.1");
    auto r = d.detect(family::v4);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().type, detect_error::kind::refused);
    t.push(503, "busy");
    r = d.detect(family::v4);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().type, detect_error::kind::transient);
    t.push(200, "not an address");
    EXPECT_EQ(d.detect(family::v4).error().type, detect_error::kind::transient);
}

} // namespace
} // namespace splitmail::ddns
