// IMAP session, IDLE family (RFC 2177): the continuation, untagged updates from idle_poll()
// while idling, DONE, and anything else than DONE.
#include "session_fixture.hpp"

namespace splitmail::home::imap {
namespace {
using namespace testing;

TEST(ImapSessionIdle, UpdatesWhileIdlingAndDone) {
    fixture f;
    f.deliver("1700000000.M1P1Q1.host", msg1);
    auto s = f.selected();
    auto r = say(s, "i IDLE\r\n");
    EXPECT_EQ(r.output, "+ idling\r\n");
    EXPECT_TRUE(s.idling());
    EXPECT_EQ(s.idle_poll(), "") << "nothing changed yet";
    f.deliver("1700000001.M1P1Q2.host", msg1);
    EXPECT_EQ(s.idle_poll(), "* 2 EXISTS\r\n* 2 RECENT\r\n") << "both arrived in this session";
    r = say(s, "DONE\r\n");
    EXPECT_EQ(r.output, "i OK IDLE terminated\r\n");
    EXPECT_FALSE(s.idling());
    r = say(s, "j IDLE\r\nnot done\r\n");
    EXPECT_TRUE(has(r.output, "j BAD Expected DONE")) << r.output;
    r = say(s, "k NOOP\r\n");
    EXPECT_EQ(r.output, "k OK NOOP completed\r\n");
}

TEST(ImapSessionIdle, DoneFedByteByByte) {
    fixture f;
    auto s = f.selected();
    say(s, "i IDLE\r\n");
    auto out = say_bytewise(s, "DONE\r\nn NOOP\r\n");
    EXPECT_EQ(out, "i OK IDLE terminated\r\nn OK NOOP completed\r\n");
}

TEST(ImapSessionIdle, IdleWithoutSelectedMailbox) {
    fixture f;
    auto s = f.make();
    say(s, "a LOGIN demo@example.test secret\r\n");
    auto r = say(s, "i IDLE\r\n");
    EXPECT_TRUE(r.output.starts_with("+ ")) << r.output;
    EXPECT_EQ(s.idle_poll(), "");
    r = say(s, "done\r\n");
    EXPECT_EQ(r.output, "i OK IDLE terminated\r\n") << "DONE is case-insensitive";
}

} // namespace
} // namespace splitmail::home::imap
