// IMAP session and reader, what the memory savings of issue #6 must not change: flag changes
// are reported once to every session (the view keeps no per-message MODSEQ between syncs, only
// what it sent since the last one), and the reader keeps a partial command across
// release_memory().
#include "imap/codec.hpp"
#include "session_fixture.hpp"

namespace splitmail::home::imap {
namespace {
using namespace testing;

std::size_t count(const std::string& hay, const std::string& needle) {
    std::size_t n = 0;
    for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
    return n;
}

TEST(ImapSessionMemory, FlagChangesReportedOnceToEachSession) {
    fixture f;
    f.deliver("1700000000.M1P1Q1.host", msg1);
    f.deliver("1700000001.M1P1Q2.host", msg1);
    auto a = f.selected(), b = f.selected();
    auto r = say(b, "b1 STORE 1 +FLAGS (\\Flagged)\r\n");
    EXPECT_EQ(count(r.output, "* 1 FETCH (FLAGS"), 1u) << r.output;
    r = say(b, "b2 NOOP\r\n");
    EXPECT_FALSE(has(r.output, "FETCH")) << "own STORE reported again: " << r.output;
    r = say(a, "a1 NOOP\r\n");
    EXPECT_TRUE(has(r.output, "* 1 FETCH (FLAGS (\\Flagged")) << r.output;
    EXPECT_FALSE(has(r.output, "* 2 FETCH")) << r.output;
    r = say(a, "a2 NOOP\r\n");
    EXPECT_FALSE(has(r.output, "FETCH")) << "reported twice: " << r.output;

    // .SILENT: the client asked not to hear it; the other session hears it once, in FETCH.
    r = say(b, "b3 STORE 2 +FLAGS.SILENT (\\Answered)\r\nb4 NOOP\r\n");
    EXPECT_FALSE(has(r.output, "FETCH")) << r.output;
    r = say(a, "a3 FETCH 2 (FLAGS)\r\n");
    EXPECT_EQ(count(r.output, "* 2 FETCH (FLAGS (\\Answered"), 1u) << r.output;
    r = say(a, "a4 NOOP\r\n");
    EXPECT_FALSE(has(r.output, "FETCH")) << "already sent by FETCH: " << r.output;

    // A later change of a message reported before is reported again.
    r = say(b, "b5 STORE 1 -FLAGS.SILENT (\\Flagged)\r\n");
    r = say(a, "a5 NOOP\r\n");
    EXPECT_TRUE(has(r.output, "* 1 FETCH (FLAGS (")) << r.output;
    EXPECT_FALSE(has(r.output, "\\Flagged")) << r.output;
}

TEST(ImapCodec, ReleaseMemoryKeepsThePartialCommand) {
    command_reader rd;
    rd.feed("a APPEND INBOX {20000}\r\n" + std::string(20000, 'x') + "\r\nb NO");
    EXPECT_EQ(rd.next(), command_reader::event_kind::continuation);
    EXPECT_EQ(rd.next(), command_reader::event_kind::complete);
    EXPECT_EQ(rd.text().size(), std::string("a APPEND INBOX {20000}\r\n").size() + 20000);
    EXPECT_EQ(rd.next(), command_reader::event_kind::need_more);
    rd.release_memory();
    EXPECT_EQ(rd.buffered(), 4u);
    rd.feed("OP\r\n");
    ASSERT_EQ(rd.next(), command_reader::event_kind::complete);
    EXPECT_EQ(rd.text(), "b NOOP");
    // A literal split across release_memory() calls arrives whole.
    rd.feed("c APPEND INBOX {10}\r\n01234");
    EXPECT_EQ(rd.next(), command_reader::event_kind::continuation);
    EXPECT_EQ(rd.next(), command_reader::event_kind::need_more);
    rd.release_memory();
    rd.feed("56789\r\n");
    ASSERT_EQ(rd.next(), command_reader::event_kind::complete);
    EXPECT_EQ(rd.text(), "c APPEND INBOX {10}\r\n0123456789");
}

} // namespace
} // namespace splitmail::home::imap
