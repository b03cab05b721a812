// Line framer: limits, bare LF, resynchronisation, buffered-byte access; whole and byte by byte.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "splitmail/smtp/line_framer.hpp"

using splitmail::smtp::line_framer;

namespace {

// Renders what the framer yields: "L:text", "B:text" (bare LF), "T" (too long).
std::vector<std::string> drain(line_framer& f) {
    std::vector<std::string> out;
    while (true) {
        auto r = f.next();
        if (r.st == line_framer::status::need_more) break;
        if (r.st == line_framer::status::too_long)
            out.push_back("T");
        else
            out.push_back((r.bare_lf ? "B:" : "L:") + r.line);
    }
    return out;
}

std::vector<std::string> run(const std::string& in, bool bytewise, std::size_t max = 1000) {
    line_framer f(max);
    std::vector<std::string> all;
    if (!bytewise) {
        f.feed(in);
        return drain(f);
    }
    for (char c : in) {
        f.feed(std::string_view(&c, 1));
        for (auto& s : drain(f)) all.push_back(s);
    }
    return all;
}

struct framer_case {
    const char* name;
    std::string in;
    std::vector<std::string> expect;
    std::size_t max = 1000;
};

} // namespace

TEST(line_framer, table) {
    const std::string t998(998, 'a'), t999(999, 'b');
    const std::vector<framer_case> cases = {
        {"one line", "EHLO x\r\n", {"L:EHLO x"}},
        {"two pipelined",
         "MAIL FROM:<>\r\nRCPT TO:<a@b>\r\n",
         {"L:MAIL FROM:<>", "L:RCPT TO:<a@b>"}},
        {"partial kept", "NOOP\r\nQU", {"L:NOOP"}},
        {"bare lf", "NOOP\nQUIT\r\n", {"B:NOOP", "L:QUIT"}},
        {"empty line", "\r\n", {"L:"}},
        {"cr inside kept", "A\rB\r\n", {"L:A\rB"}},
        {"998 ok", t998 + "\r\n", {"L:" + t998}},
        {"998 bare lf ok", t998 + "\n", {"B:" + t998}},
        {"999 too long, resync", t999 + "\r\nNOOP\r\n", {"T", "L:NOOP"}},
        {"long flood then line", std::string(5000, 'x') + "\r\nQUIT\r\n", {"T", "L:QUIT"}},
        {"small limit", "abcd\r\nabcde\r\nab\r\n", {"L:abcd", "T", "L:ab"}, 6},
    };
    for (const auto& tc : cases) {
        SCOPED_TRACE(tc.name);
        EXPECT_EQ(run(tc.in, false, tc.max), tc.expect);
        EXPECT_EQ(run(tc.in, true, tc.max), tc.expect);
    }
}

TEST(line_framer, too_long_reported_once_without_lf) {
    line_framer f;
    f.feed(std::string(1500, 'x'));
    EXPECT_EQ(f.next().st, line_framer::status::too_long);
    EXPECT_EQ(f.next().st, line_framer::status::need_more);
    f.feed(std::string(100000, 'x'));
    EXPECT_EQ(f.next().st, line_framer::status::need_more);
    EXPECT_EQ(f.buffered(), 0u); // an endless line never accumulates
    f.feed("tail\r\nNOOP\r\n");
    auto r = f.next();
    ASSERT_EQ(r.st, line_framer::status::line);
    EXPECT_EQ(r.line, "NOOP");
}

TEST(line_framer, take_and_discard_buffered) {
    line_framer f;
    f.feed("DATA\r\nSubject: x\r\n\r\nbody\r\n.\r\n");
    auto r = f.next();
    ASSERT_EQ(r.line, "DATA");
    EXPECT_EQ(f.buffered(), 23u);
    EXPECT_EQ(f.take_buffered(), "Subject: x\r\n\r\nbody\r\n.\r\n");
    EXPECT_EQ(f.buffered(), 0u);
    EXPECT_EQ(f.next().st, line_framer::status::need_more);

    // STARTTLS injection: whatever follows STARTTLS in the same read is dropped.
    f.feed("STARTTLS\r\nMAIL FROM:<evil@x>\r\n");
    ASSERT_EQ(f.next().line, "STARTTLS");
    f.discard_buffered();
    EXPECT_EQ(f.next().st, line_framer::status::need_more);
    f.feed("EHLO y\r\n");
    EXPECT_EQ(f.next().line, "EHLO y");
}
