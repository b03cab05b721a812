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

TEST(ImapUidList, SameAsAnArrayWithAndWithoutGaps) {
    // No gaps, a few gaps, a gap after every UID (turns into a plain array), runs after that.
    for (unsigned step : {1u, 7u, 0u}) {
        uid_list l;
        std::vector<std::uint32_t> ref;
        std::uint32_t uid = 3;
        for (unsigned i = 0; i < 500; ++i) {
            uid += (step == 0) ? 2 : (i % (step == 1 ? 1000 : step) == 0 ? 5 : 1);
            if (i > 300) uid += (i % 50 == 0) ? 9 : 0;
            l.push_back(uid);
            ref.push_back(uid);
            ASSERT_EQ(l.size(), ref.size());
            ASSERT_EQ(l.back(), ref.back()) << "step " << step << " i " << i;
        }
        for (std::size_t i = 0; i < ref.size(); ++i) ASSERT_EQ(l[i], ref[i]) << step << " " << i;
    }
    uid_list e;
    EXPECT_TRUE(e.empty());
}

TEST(ImapSessionMemory, ExpungeRenumbersTheView) {
    fixture f;
    for (int i = 0; i < 6; ++i)
        f.deliver("170000000" + std::to_string(i) + ".M1P1Q" + std::to_string(i) + ".host", msg1);
    auto a = f.selected(), b = f.selected();
    auto r = say(b, "b1 STORE 2,4:5 +FLAGS.SILENT (\\Deleted)\r\nb2 EXPUNGE\r\n");
    r = say(a, "a1 NOOP\r\n");
    EXPECT_TRUE(has(r.output, "* 2 EXPUNGE\r\n* 3 EXPUNGE\r\n* 3 EXPUNGE\r\n")) << r.output;
    r = say(a, "a2 FETCH 1:* (UID)\r\n");
    EXPECT_TRUE(has(r.output, "* 1 FETCH (UID 1)\r\n* 2 FETCH (UID 3)\r\n* 3 FETCH (UID 6)\r\n"))
        << r.output;
    f.deliver("1700000009.M1P1Q9.host", msg1);
    r = say(a, "a3 NOOP\r\na4 UID FETCH 7 (UID)\r\n");
    EXPECT_TRUE(has(r.output, "* 4 EXISTS")) << r.output;
    EXPECT_TRUE(has(r.output, "* 4 FETCH (UID 7)")) << r.output;
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
