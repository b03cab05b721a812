// DNS lists, the pure half (splitmail/net/dnsbl.hpp): Postfix's postscreen_dnsbl_sites syntax,
// the reversed query names, and which answers count.
#include "splitmail/net/dnsbl.hpp"

#include <gtest/gtest.h>

using namespace splitmail::net;

TEST(Dnsbl, ParsesPostscreenSyntax) {
    auto zen = parse_site("zen.spamhaus.org=127.0.0.[2..11]*3");
    ASSERT_TRUE(zen) << zen.error();
    EXPECT_EQ(zen->zone, "zen.spamhaus.org");
    EXPECT_EQ(zen->weight, 3);
    EXPECT_TRUE(zen->has_pattern);
    EXPECT_EQ(zen->octets[3], (std::vector<std::pair<std::uint8_t, std::uint8_t>>{{2, 11}}));
    EXPECT_EQ(zen->octets[0], (std::vector<std::pair<std::uint8_t, std::uint8_t>>{{127, 127}}));

    auto wl = parse_site("List.DNSWL.org.=127.0.[0..255].[1;2;3]*-2");
    ASSERT_TRUE(wl) << wl.error();
    EXPECT_EQ(wl->zone, "list.dnswl.org");
    EXPECT_EQ(wl->weight, -2);
    EXPECT_EQ(wl->octets[3].size(), 3u);

    auto plain = parse_site("bl.spamcop.net");
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->weight, 1);
    EXPECT_FALSE(plain->has_pattern);
    EXPECT_FALSE(plain->mask);

    auto mask = parse_site("multi.example.org&0.0.0.4*2");
    ASSERT_TRUE(mask) << mask.error();
    EXPECT_EQ(mask->mask, 4u);
    EXPECT_EQ(mask->weight, 2);
}

TEST(Dnsbl, RefusesWhatIsNotAList) {
    for (const char* bad : {"", "*3", "localhost", "zen.spamhaus.org*x", "zen.spamhaus.org*101",
                            "zen.spamhaus.org=127.0.0", "zen.spamhaus.org=127.0.0.[2..]",
                            "zen.spamhaus.org=127.0.0.[11..2]", "zen.spamhaus.org=127.0.0.256",
                            "zen.spamhaus.org=127.0.0.1.5", "zen.spamhaus.org&4",
                            "bad zone.example=127.0.0.2", "zen.spamhaus.org=[1;2;x].0.0.1"})
        EXPECT_FALSE(parse_site(bad)) << bad;
}

TEST(Dnsbl, QueryNames) {
    EXPECT_EQ(dnsbl_query_name("192.0.2.99", "zen.spamhaus.org"), "99.2.0.192.zen.spamhaus.org");
    EXPECT_EQ(dnsbl_query_name("2001:db8::1", "bl.example"),
              "1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.bl.example");
    EXPECT_FALSE(dnsbl_query_name("not an address", "bl.example"));
    EXPECT_FALSE(dnsbl_query_name("", "bl.example"));
}

TEST(Dnsbl, WhichAnswersCount) {
    auto zen = *parse_site("zen.spamhaus.org=127.0.0.[2..11]*3");
    EXPECT_EQ(judge(zen, {}).result, site_result::what::not_listed);
    auto hit = judge(zen, {"127.0.0.2", "127.0.0.10"});
    EXPECT_EQ(hit.result, site_result::what::listed);
    EXPECT_EQ(hit.codes, "127.0.0.2,127.0.0.10");
    EXPECT_EQ(judge(zen, {"127.0.0.1"}).result, site_result::what::not_listed)
        << "outside the pattern";
    // Spamhaus' error codes (public resolver, rate limit) are never a listing.
    auto err = judge(zen, {"127.255.255.254"});
    EXPECT_EQ(err.result, site_result::what::refused);
    EXPECT_EQ(err.codes, "127.255.255.254");
    // A resolver that answers NXDOMAIN with its own address lists nobody.
    auto any = *parse_site("bl.example.org");
    EXPECT_EQ(judge(any, {"198.51.100.7"}).result, site_result::what::not_listed);
    EXPECT_EQ(judge(any, {"127.0.0.4"}).result, site_result::what::listed);
    auto mask = *parse_site("multi.example.org&0.0.0.4");
    EXPECT_EQ(judge(mask, {"127.0.0.6"}).result, site_result::what::listed);
    EXPECT_EQ(judge(mask, {"127.0.0.2"}).result, site_result::what::not_listed);
    EXPECT_EQ(judge(mask, {"garbage"}).result, site_result::what::not_listed);
}
