// IMAP session, \Recent (issue 15 item 3; RFC 3501 2.3.2, 7.3.2): messages arriving by APPEND,
// COPY or MOVE are recent for exactly one IMAP4rev1 session, the first to see them; an
// IMAP4rev2 session (RFC 9051) neither reports nor takes \Recent.
#include "session_fixture.hpp"

namespace splitmail::home::imap {
namespace {
using namespace testing;

std::string append_cmd(const std::string& tag, const std::string& box) {
    return tag + " APPEND " + box + " {" + std::to_string(msg1.size()) + "+}\r\n" + msg1 + "\r\n";
}

TEST(ImapSessionRecent, AppendCopyMoveArrivalsAreRecentForOneSession) {
    fixture f;
    auto s0 = f.make(); // appends, never selects INBOX
    say(s0, "a LOGIN demo@example.test secret\r\n");
    auto r = say(s0, append_cmd("b", "INBOX") + append_cmd("c", "INBOX"));
    ASSERT_TRUE(has(r.output, "c OK")) << r.output;
    r = say(s0, "d STATUS INBOX (MESSAGES RECENT)\r\n");
    EXPECT_TRUE(has(r.output, "* STATUS INBOX (MESSAGES 2 RECENT 2)\r\n")) << r.output;

    auto s1 = f.make();
    say(s1, "a LOGIN demo@example.test secret\r\n");
    r = say(s1, "b SELECT INBOX\r\n");
    EXPECT_TRUE(has(r.output, "* 2 EXISTS\r\n* 2 RECENT\r\n")) << r.output;
    r = say(s1, "c FETCH 1:2 (FLAGS)\r\nd SEARCH RECENT\r\ne SEARCH NEW\r\nf SEARCH OLD\r\n");
    EXPECT_TRUE(has(r.output, "* 1 FETCH (FLAGS (\\Recent))\r\n* 2 FETCH (FLAGS (\\Recent))\r\n"))
        << r.output;
    EXPECT_TRUE(has(r.output, "* SEARCH 1 2\r\nd OK")) << r.output;
    EXPECT_TRUE(has(r.output, "* SEARCH 1 2\r\ne OK")) << r.output;
    EXPECT_TRUE(has(r.output, "* SEARCH\r\nf OK")) << r.output;

    // Exactly one session: the second one to select sees them as not recent.
    auto s2 = f.make();
    say(s2, "a LOGIN demo@example.test secret\r\n");
    r = say(s2, "b SELECT INBOX\r\n");
    EXPECT_TRUE(has(r.output, "* 2 EXISTS\r\n* 0 RECENT\r\n")) << r.output;
    r = say(s0, "e STATUS INBOX (RECENT)\r\n");
    EXPECT_TRUE(has(r.output, "* STATUS INBOX (RECENT 0)\r\n")) << r.output;

    // An IMAP4rev2 session with INBOX selected does not take the \Recent of a new arrival.
    auto s3 = f.selected(true);
    r = say(s0, append_cmd("f", "INBOX"));
    ASSERT_TRUE(has(r.output, "f OK")) << r.output;
    r = say(s3, "n NOOP\r\n");
    EXPECT_EQ(r.output, "* 3 EXISTS\r\nn OK NOOP completed\r\n");
    r = say(s1, "n NOOP\r\n");
    EXPECT_EQ(r.output, "* 3 EXISTS\r\n* 3 RECENT\r\nn OK NOOP completed\r\n");
    r = say(s2, "n NOOP\r\n");
    EXPECT_EQ(r.output, "* 3 EXISTS\r\n* 0 RECENT\r\nn OK NOOP completed\r\n");

    // COPY and MOVE arrivals too.
    say(s0, "g CREATE Work\r\n");
    r = say(s2, "c COPY 1 Work\r\nd MOVE 2 Work\r\n");
    ASSERT_TRUE(has(r.output, "d OK")) << r.output;
    r = say(s0, "h STATUS Work (MESSAGES RECENT)\r\n");
    EXPECT_TRUE(has(r.output, "* STATUS Work (MESSAGES 2 RECENT 2)\r\n")) << r.output;
    r = say(s0, "i SELECT Work\r\nj SEARCH RECENT\r\n");
    EXPECT_TRUE(has(r.output, "* 2 EXISTS\r\n* 2 RECENT\r\n")) << r.output;
    EXPECT_TRUE(has(r.output, "* SEARCH 1 2\r\nj OK")) << r.output;
}

} // namespace
} // namespace splitmail::home::imap
