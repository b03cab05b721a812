// EHLO capability parsing (smtp_out/client.hpp) and relay.trusted_networks matching.
#include <gtest/gtest.h>

#include "splitmail/config/relay.hpp"
#include "smtp_out/client.hpp"

using namespace splitmail;
using namespace splitmail::relay;

TEST(smtp_out_ehlo, reads_keywords_case_insensitively) {
    auto r = smtp::make_reply(250, "",
                              std::vector<std::string>{"mx.example.net Hello", "pipelining",
                                                       "SIZE 10240000", "STARTTLS", "8BITMIME",
                                                       "SmtpUtf8", "DSN", "ENHANCEDSTATUSCODES",
                                                       "AUTH PLAIN LOGIN"});
    auto c = parse_ehlo(r);
    EXPECT_TRUE(c.esmtp);
    EXPECT_TRUE(c.pipelining);
    EXPECT_TRUE(c.size);
    EXPECT_EQ(c.max_size, 10240000u);
    EXPECT_TRUE(c.starttls);
    EXPECT_TRUE(c.eight_bit_mime);
    EXPECT_TRUE(c.smtputf8);
    EXPECT_TRUE(c.dsn);
    EXPECT_TRUE(c.enhanced_codes);
}

TEST(smtp_out_ehlo, first_line_is_not_a_keyword) {
    auto r = smtp::make_reply(250, "", std::vector<std::string>{"PIPELINING"});
    EXPECT_FALSE(parse_ehlo(r).pipelining);
}

TEST(smtp_out_ehlo, size_without_or_with_bad_number_means_no_limit) {
    for (const char* s :
         {"SIZE", "SIZE 0", "SIZE abc", "SIZE 12x", "SIZE 99999999999999999999999"}) {
        auto r = smtp::make_reply(250, "", std::vector<std::string>{"mx", s});
        auto c = parse_ehlo(r);
        EXPECT_TRUE(c.size) << s;
        EXPECT_EQ(c.max_size, 0u) << s;
    }
}

TEST(smtp_out_ehlo, nothing_offered) {
    auto r = smtp::make_reply(250, "", std::vector<std::string>{"mx", "XFOO", ""});
    auto c = parse_ehlo(r);
    EXPECT_FALSE(c.pipelining || c.starttls || c.smtputf8 || c.eight_bit_mime || c.size);
}

TEST(trusted_networks, cidr_matching) {
    auto n = parse_network("10.8.0.0/24");
    ASSERT_TRUE(n);
    EXPECT_TRUE(n->contains("10.8.0.2"));
    EXPECT_TRUE(n->contains("::ffff:10.8.0.7")); // IPv4-mapped from a dual-stack listener
    EXPECT_FALSE(n->contains("10.8.1.2"));
    EXPECT_FALSE(n->contains("::1"));
    EXPECT_FALSE(n->contains("not an ip"));
    auto one = parse_network("127.0.0.1");
    ASSERT_TRUE(one);
    EXPECT_TRUE(one->contains("127.0.0.1"));
    EXPECT_FALSE(one->contains("127.0.0.2"));
    auto v6 = parse_network("fd00:1::/32");
    ASSERT_TRUE(v6);
    EXPECT_TRUE(v6->contains("fd00:1:0:5::9"));
    EXPECT_FALSE(v6->contains("fd00:2::9"));
    EXPECT_FALSE(v6->contains("10.0.0.1"));
    auto host_bits = parse_network("192.0.2.77/25"); // host bits are ignored
    ASSERT_TRUE(host_bits);
    EXPECT_TRUE(host_bits->contains("192.0.2.1"));
    EXPECT_FALSE(host_bits->contains("192.0.2.200"));
    auto all = parse_network("0.0.0.0/0");
    ASSERT_TRUE(all);
    EXPECT_TRUE(all->contains("203.0.113.9"));
    for (const char* bad :
         {"", "10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "10.0.0/8", "host.example"})
        EXPECT_FALSE(parse_network(bad)) << bad;
}

TEST(trusted_networks, settings_is_trusted) {
    settings s;
    EXPECT_FALSE(s.is_trusted("127.0.0.1")); // default: nobody
    s.trusted_networks.push_back(*parse_network("127.0.0.1/32"));
    s.trusted_networks.push_back(*parse_network("::1"));
    EXPECT_TRUE(s.is_trusted("127.0.0.1"));
    EXPECT_TRUE(s.is_trusted("::1"));
    EXPECT_FALSE(s.is_trusted("192.0.2.1"));
}
