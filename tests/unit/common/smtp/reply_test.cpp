// Reply formatting and the incremental reply parser (whole, byte by byte, malformed input).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "splitmail/smtp/reply.hpp"

using namespace splitmail::smtp;

namespace {

std::vector<reply> parse_all(const std::string& in, bool bytewise, bool* failed = nullptr,
                             std::size_t max_line = 2048, std::size_t max_lines = 100000) {
    reply_parser p(max_line, max_lines);
    std::vector<reply> out;
    bool err = false;
    auto drain = [&] {
        while (true) {
            auto r = p.next();
            if (r.st == reply_parser::status::reply)
                out.push_back(r.value);
            else {
                if (r.st == reply_parser::status::error) err = true;
                break;
            }
        }
    };
    if (bytewise) {
        for (char c : in) {
            p.feed(std::string_view(&c, 1));
            drain();
        }
    } else {
        p.feed(in);
        drain();
    }
    if (failed) *failed = err;
    return out;
}

} // namespace

TEST(reply, format) {
    EXPECT_EQ(make_reply(250, "2.1.0", "Ok").format(), "250 2.1.0 Ok\r\n");
    EXPECT_EQ(make_reply(250, "", std::vector<std::string>{"a", "b", "c"}).format(),
              "250-a\r\n250-b\r\n250 c\r\n");
    EXPECT_EQ(make_reply(550, "5.1.1", std::vector<std::string>{"x", "y"}).format(),
              "550-5.1.1 x\r\n550 5.1.1 y\r\n");
    EXPECT_EQ((reply{221, "", {}}).format(), "221\r\n");
    EXPECT_TRUE(make_reply(250, "", "x").positive());
    EXPECT_TRUE(make_reply(451, "", "x").transient());
    EXPECT_TRUE(make_reply(550, "", "x").permanent());
}

TEST(reply, enhanced_code_syntax) {
    EXPECT_TRUE(is_enhanced_code("2.0.0"));
    EXPECT_TRUE(is_enhanced_code("5.123.999"));
    EXPECT_FALSE(is_enhanced_code("3.0.0"));
    EXPECT_FALSE(is_enhanced_code("5.1"));
    EXPECT_FALSE(is_enhanced_code("5.1.1.1"));
    EXPECT_FALSE(is_enhanced_code("5.1234.1"));
    EXPECT_FALSE(is_enhanced_code("5..1"));
}

TEST(reply, parser_round_trips_and_splits) {
    const std::string in = "220 mx.example ESMTP\r\n"
                           "250-mx.example\r\n250-PIPELINING\r\n250 SIZE 100\r\n"
                           "550-5.1.1 no such\r\n550 5.1.1 user\r\n"
                           "250 2.0.0\r\n"
                           "354\n"; // bare LF tolerated from peers, no text allowed
    for (bool bytewise : {false, true}) {
        bool failed = true;
        auto v = parse_all(in, bytewise, &failed);
        EXPECT_FALSE(failed);
        ASSERT_EQ(v.size(), 5u);
        EXPECT_EQ(v[0], make_reply(220, "", "mx.example ESMTP"));
        EXPECT_EQ(v[1].lines, (std::vector<std::string>{"mx.example", "PIPELINING", "SIZE 100"}));
        EXPECT_EQ(v[2], make_reply(550, "5.1.1", std::vector<std::string>{"no such", "user"}));
        EXPECT_EQ(v[3].enhanced, "2.0.0");
        EXPECT_EQ(v[3].lines, std::vector<std::string>{""});
        EXPECT_EQ(v[4].code, 354);
        // What format() writes, the parser reads back identically.
        for (const auto& r : v) {
            auto back = parse_all(r.format(), false);
            ASSERT_EQ(back.size(), 1u);
            EXPECT_EQ(back[0], r);
        }
    }
}

TEST(reply, parser_does_not_take_enhanced_of_other_class) {
    auto v = parse_all("250 5.1.1 odd\r\n", false);
    ASSERT_EQ(v.size(), 1u);
    EXPECT_EQ(v[0].enhanced, "");
    EXPECT_EQ(v[0].lines[0], "5.1.1 odd");
}

TEST(reply, parser_errors_are_sticky) {
    const std::vector<std::string> bad = {
        "25\r\n",
        "abc ok\r\n",
        "250xok\r\n",
        "150 x\r\n",
        "650 x\r\n",
        "250-a\r\n251 b\r\n",
        std::string(3000, '2') + "\r\n",
        std::string(3000, '2'),
    };
    for (const auto& in : bad) {
        for (bool bytewise : {false, true}) {
            bool failed = false;
            auto v = parse_all(in + "250 ok\r\n", bytewise, &failed);
            EXPECT_TRUE(failed) << in.substr(0, 20);
            EXPECT_TRUE(v.empty()) << in.substr(0, 20);
        }
    }
    bool failed = false;
    parse_all("250-a\r\n250-b\r\n250 c\r\n", false, &failed, 2048, 2);
    EXPECT_TRUE(failed);
    parse_all("250 " + std::string(20, 'x') + "\r\n", true, &failed, 16);
    EXPECT_TRUE(failed);
}
