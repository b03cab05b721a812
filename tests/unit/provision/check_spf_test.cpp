// Unit tests of provision/check/spf: parsing and whether the relay's addresses pass.
#include "check/spf.hpp"

#include <gtest/gtest.h>

#include <map>

using namespace splitmail::provision::check;

namespace {

struct fake_dns {
    std::map<std::string, std::vector<std::string>> a, aaaa, mx_hosts;
    bool fail = false;
    spf_lookups lookups() {
        spf_lookups l;
        l.addresses = [this](const std::string& n,
                             bool v6) -> std::expected<std::vector<std::string>, std::string> {
            if (fail) return std::unexpected("SERVFAIL");
            auto& m = v6 ? aaaa : a;
            auto it = m.find(n);
            return it == m.end() ? std::vector<std::string>{} : it->second;
        };
        l.mx_addresses = [this,
                          l](const std::string& d,
                             bool v6) -> std::expected<std::vector<std::string>, std::string> {
            std::vector<std::string> out;
            for (const auto& h : mx_hosts[d]) {
                auto got = l.addresses(h, v6);
                if (!got) return got;
                out.insert(out.end(), got->begin(), got->end());
            }
            return out;
        };
        return l;
    }
};

spf_coverage covers(const std::string& rec, const std::string& addr, fake_dns& dns) {
    auto r = parse_spf(rec);
    EXPECT_TRUE(r.has_value()) << rec << ": " << (r ? "" : r.error());
    if (!r) return {};
    return spf_covers(*r, addr, "example.com", dns.lookups());
}

} // namespace

TEST(CheckSpf, IsSpf) {
    EXPECT_TRUE(is_spf("v=spf1 -all"));
    EXPECT_TRUE(is_spf("V=SPF1"));
    EXPECT_FALSE(is_spf("v=spf10 -all"));
    EXPECT_FALSE(is_spf("v=DKIM1; p=x"));
}

TEST(CheckSpf, ParseRefusesPermerrors) {
    EXPECT_FALSE(parse_spf("v=spf1 ip4:300.1.1.1 -all"));
    EXPECT_FALSE(parse_spf("v=spf1 ip4:192.0.2.0/33"));
    EXPECT_FALSE(parse_spf("v=spf1 ip6:192.0.2.1"));
    EXPECT_FALSE(parse_spf("v=spf1 foo:bar"));
    EXPECT_FALSE(parse_spf("v=spf1 include"));
    EXPECT_FALSE(parse_spf("v=spf1 redirect=a.example redirect=b.example"));
    EXPECT_FALSE(parse_spf("v=spf1 a/024"));
    EXPECT_FALSE(parse_spf("v=spf1 all:x"));
    auto r = parse_spf("v=spf1 +a:mail.example.com/24//64 ~mx exp=explain.example.com -all");
    ASSERT_TRUE(r);
    ASSERT_EQ(r->terms.size(), 3u);
    EXPECT_EQ(r->terms[0].domain, "mail.example.com");
    EXPECT_EQ(r->terms[0].cidr4, 24);
    EXPECT_EQ(r->terms[0].cidr6, 64);
    EXPECT_EQ(r->terms[1].qualifier, '~');
}

TEST(CheckSpf, LiteralAddresses) {
    fake_dns dns;
    EXPECT_EQ(covers("v=spf1 ip4:203.0.113.5 ip6:2001:db8::25 -all", "203.0.113.5", dns).verdict,
              spf_verdict::pass);
    EXPECT_EQ(covers("v=spf1 ip4:203.0.113.5 ip6:2001:db8::25 -all", "2001:db8::25", dns).verdict,
              spf_verdict::pass);
    EXPECT_EQ(covers("v=spf1 ip4:203.0.113.0/24 -all", "203.0.113.77", dns).verdict,
              spf_verdict::pass);
    EXPECT_EQ(covers("v=spf1 ip6:2001:db8::/32 -all", "2001:db8:1::9", dns).verdict,
              spf_verdict::pass);
    auto wrong = covers("v=spf1 ip4:198.51.100.7 -all", "203.0.113.5", dns);
    EXPECT_EQ(wrong.verdict, spf_verdict::not_pass);
    EXPECT_EQ(wrong.reason, "-all matches first");
    // An IPv4 mechanism never matches an IPv6 address.
    EXPECT_EQ(covers("v=spf1 ip4:0.0.0.0/0 -all", "2001:db8::25", dns).verdict,
              spf_verdict::not_pass);
    // Order matters: the first match wins (RFC 7208 4.6.2).
    EXPECT_EQ(covers("v=spf1 -ip4:203.0.113.5 ip4:203.0.113.0/24", "203.0.113.5", dns).verdict,
              spf_verdict::not_pass);
    EXPECT_EQ(covers("v=spf1 ~all", "203.0.113.5", dns).verdict, spf_verdict::not_pass);
    auto neutral = covers("v=spf1 ip4:198.51.100.7", "203.0.113.5", dns);
    EXPECT_EQ(neutral.verdict, spf_verdict::not_pass);
    EXPECT_NE(neutral.reason.find("no all"), std::string::npos);
    EXPECT_EQ(covers("v=spf1 +all", "203.0.113.5", dns).verdict, spf_verdict::pass);
}

TEST(CheckSpf, AAndMxResolve) {
    fake_dns dns;
    dns.a["example.com"] = {"203.0.113.5"};
    dns.a["mx.example.com"] = {"203.0.113.9"};
    dns.aaaa["mx.example.com"] = {"2001:db8::25"};
    dns.mx_hosts["example.com"] = {"mx.example.com"};
    EXPECT_EQ(covers("v=spf1 a -all", "203.0.113.5", dns).verdict, spf_verdict::pass);
    EXPECT_EQ(covers("v=spf1 a -all", "203.0.113.9", dns).verdict, spf_verdict::not_pass);
    EXPECT_EQ(covers("v=spf1 mx -all", "203.0.113.9", dns).verdict, spf_verdict::pass);
    EXPECT_EQ(covers("v=spf1 mx -all", "2001:db8::25", dns).verdict, spf_verdict::pass);
    EXPECT_EQ(covers("v=spf1 a:mx.example.com -all", "203.0.113.9", dns).verdict,
              spf_verdict::pass);
    EXPECT_EQ(covers("v=spf1 a/24 -all", "203.0.113.200", dns).verdict, spf_verdict::pass);
    EXPECT_EQ(covers("v=spf1 mx//64 -all", "2001:db8::ffff", dns).verdict, spf_verdict::pass);
    dns.fail = true;
    auto t = covers("v=spf1 a -all", "203.0.113.5", dns);
    EXPECT_EQ(t.verdict, spf_verdict::unknown);
    EXPECT_NE(t.reason.find("SERVFAIL"), std::string::npos);
}

TEST(CheckSpf, NotFollowedMechanisms) {
    fake_dns dns;
    // "+include" before a passing ip4 cannot turn the pass into anything else.
    EXPECT_EQ(
        covers("v=spf1 include:_spf.example.net ip4:203.0.113.5 -all", "203.0.113.5", dns).verdict,
        spf_verdict::pass);
    auto inc = covers("v=spf1 include:_spf.example.net -all", "203.0.113.5", dns);
    EXPECT_EQ(inc.verdict, spf_verdict::unknown);
    EXPECT_NE(inc.reason.find("include:_spf.example.net"), std::string::npos);
    EXPECT_EQ(covers("v=spf1 -include:x.example ip4:203.0.113.5", "203.0.113.5", dns).verdict,
              spf_verdict::unknown);
    EXPECT_EQ(covers("v=spf1 redirect=_spf.example.net", "203.0.113.5", dns).verdict,
              spf_verdict::unknown);
    EXPECT_EQ(covers("v=spf1 a:%{d}.example -all", "203.0.113.5", dns).verdict,
              spf_verdict::unknown);
}

TEST(CheckSpf, InPrefix) {
    EXPECT_TRUE(in_prefix("192.0.2.130", "192.0.2.128", 25));
    EXPECT_FALSE(in_prefix("192.0.2.127", "192.0.2.128", 25));
    EXPECT_TRUE(in_prefix("192.0.2.1", "10.0.0.0", 0));
    EXPECT_TRUE(in_prefix("2001:db8::1", "2001:db8::", 64));
    EXPECT_FALSE(in_prefix("2001:db9::1", "2001:db8::", 32));
    EXPECT_FALSE(in_prefix("192.0.2.1", "2001:db8::", 0));
}
