// IMAP session and reader, what the memory savings of issue #6 must not change: flag changes
// are reported once to every session (the view keeps no per-message MODSEQ between syncs, only
// what it sent since the last one), and the reader keeps a partial command across
// release_memory().
#include "imap/codec.hpp"
#include "session_fixture.hpp"

#include <algorithm>

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

// Issue 12: one step's output is bounded by output_chunk plus one message, whatever the set of
// a FETCH (a 40 x 20 KB folder in 256 KiB chunks here) or the number of pipelined commands;
// the steps together are the whole answer, in order, once.
std::string big_message(int n) {
    std::string m = "From: a@example.test\r\nSubject: m" + std::to_string(n) + "\r\n\r\n";
    while (m.size() < 20000) m += "0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTU\r\n";
    return m;
}

TEST(ImapSessionMemory, LongFetchAnsweredInBoundedSteps) {
    fixture f;
    for (int i = 0; i < 40; ++i)
        f.deliver("17000000" + std::to_string(10 + i) + ".M1P1Q" + std::to_string(i) + ".host",
                  big_message(i));
    auto s = f.selected();
    constexpr std::size_t chunk = 256 * 1024, one_message = 21000;
    s.feed("a FETCH 1:* (BODY.PEEK[])\r\n");
    std::string all;
    std::size_t steps = 0;
    for (step st = s.advance();; st = s.advance()) {
        ++steps;
        EXPECT_LE(st.output.size(), chunk + one_message) << "step " << steps;
        all += st.output;
        if (!st.more) break;
        ASSERT_LT(steps, 100u) << "never finishes";
    }
    EXPECT_GE(steps, 3u) << "800 KB in one step";
    EXPECT_EQ(count(all, " FETCH (BODY[] {"), 40u);
    EXPECT_EQ(count(all, "a OK FETCH completed"), 1u);
    for (int i = 0; i < 40; ++i) {
        auto p = all.find("* " + std::to_string(i + 1) + " FETCH (");
        ASSERT_NE(p, std::string::npos) << i;
        EXPECT_EQ(all.find("* " + std::to_string(i + 1) + " FETCH (", p + 1), std::string::npos);
        EXPECT_NE(all.find("Subject: m" + std::to_string(i) + "\r\n", p), std::string::npos) << i;
    }
    EXPECT_EQ(all.rfind("a OK FETCH completed\r\n"), all.size() - 22) << "tagged reply last";

    // 40 pipelined one-message FETCHes: the same bound; the commands not run yet wait.
    std::string burst;
    for (int i = 1; i <= 40; ++i)
        burst += "p" + std::to_string(i) + " FETCH " + std::to_string(i) + " (BODY.PEEK[TEXT])\r\n";
    s.feed(burst);
    all.clear();
    steps = 0;
    for (step st = s.advance();; st = s.advance()) {
        ++steps;
        EXPECT_LE(st.output.size(), chunk + one_message) << "step " << steps;
        all += st.output;
        if (!st.more) break;
        ASSERT_LT(steps, 100u);
    }
    EXPECT_GE(steps, 3u);
    EXPECT_EQ(count(all, " OK FETCH completed"), 40u);
    EXPECT_NE(all.find("p40 OK FETCH completed"), std::string::npos);
}

TEST(ImapSessionMemory, MessageExpungedBetweenStepsIsSkipped) {
    fixture f;
    for (int i = 0; i < 40; ++i)
        f.deliver("17000000" + std::to_string(10 + i) + ".M1P1Q" + std::to_string(i) + ".host",
                  big_message(i));
    auto a = f.selected(), b = f.selected();
    a.feed("a FETCH 1:* (UID BODY.PEEK[])\r\n");
    auto st = a.advance();
    ASSERT_TRUE(st.more);
    EXPECT_FALSE(has(st.output, "* 40 FETCH"));
    auto r = say(b, "b1 STORE 40 +FLAGS.SILENT (\\Deleted)\r\nb2 EXPUNGE\r\n");
    EXPECT_TRUE(has(r.output, "* 40 EXPUNGE")) << r.output;
    std::string rest;
    do {
        st = a.advance();
        rest += st.output;
    } while (st.more);
    EXPECT_TRUE(has(rest, "* 39 FETCH (UID 39 ")) << "the others are answered";
    EXPECT_FALSE(has(rest, "* 40 FETCH")) << "expunged meanwhile: left out (RFC 2180 4.1)";
    EXPECT_TRUE(has(rest, "a OK FETCH completed")) << rest.substr(rest.size() - 200);
}

// What another session changes while a long FETCH is answered is reported after its last
// FETCH response and before its tagged line, as for any command; new mail is announced then.
TEST(ImapSessionMemory, UpdatesDuringLongFetchComeBeforeItsTaggedLine) {
    fixture f;
    for (int i = 0; i < 40; ++i)
        f.deliver("17000000" + std::to_string(10 + i) + ".M1P1Q" + std::to_string(i) + ".host",
                  big_message(i));
    auto a = f.selected(), b = f.selected();
    a.feed("a UID FETCH 1:* (BODY.PEEK[])\r\n");
    auto st = a.advance();
    ASSERT_TRUE(st.more);
    say(b, "b1 STORE 1 +FLAGS.SILENT (\\Flagged)\r\n");
    f.deliver("1700000099.M1P1Q99.host", big_message(99));
    std::string rest;
    do {
        st = a.advance();
        rest += st.output;
    } while (st.more);
    const auto flags = rest.find("* 1 FETCH (FLAGS (\\Flagged"), exists = rest.find("* 41 EXISTS");
    const auto last = rest.rfind(" FETCH (UID 40 "), tagged = rest.find("a OK UID FETCH completed");
    ASSERT_NE(flags, std::string::npos) << rest.substr(rest.size() - 300);
    ASSERT_NE(exists, std::string::npos) << rest.substr(rest.size() - 300);
    ASSERT_NE(last, std::string::npos);
    ASSERT_NE(tagged, std::string::npos);
    EXPECT_LT(last, flags) << "an update in the middle of the FETCH";
    EXPECT_LT(last, exists);
    EXPECT_LT(flags, tagged);
    EXPECT_LT(exists, tagged);
    EXPECT_FALSE(has(rest, "UID 41 ")) << "the set was fixed when the FETCH began";
}

// A message larger than a step is sent from its file: no step holds more than output_chunk
// plus one read (64 KiB), whatever the message's size; the octets are the file's (NUL as 0x80),
// partial windows are honoured, and renames (\Seen) or an expunge by another session during
// the literal do not disturb it.
std::string huge_message(std::size_t size, char salt) {
    std::string m = "From: a@example.test\r\nSubject: huge\r\n\r\n";
    std::size_t n = 0;
    while (m.size() < size) {
        m += "line " + std::to_string(n++) + " " + std::string(60, salt) + "\r\n";
        if (n == 7) m += std::string("nul:\0:", 6) + "\r\n";
    }
    return m;
}

std::vector<step> run_steps(session& s, const std::string& in) {
    s.feed(in);
    std::vector<step> steps;
    for (step st = s.advance();; st = s.advance()) {
        const bool more = st.more;
        steps.push_back(std::move(st));
        if (!more || steps.size() > 1000) break;
    }
    return steps;
}

std::string joined(const std::vector<step>& steps) {
    std::string all;
    for (const auto& st : steps) all += st.output;
    return all;
}

// The literal after `label` ("BODY[] {n}\r\n" + n octets), and where it ends in `all`.
std::string literal_after(const std::string& all, const std::string& label,
                          std::size_t* end = nullptr) {
    auto p = all.find(label + " {");
    if (p == std::string::npos) return "<no " + label + ">";
    p += label.size() + 2;
    auto close = all.find("}\r\n", p);
    std::size_t n = std::stoull(all.substr(p, close - p));
    if (end) *end = close + 3 + n;
    return all.substr(close + 3, n);
}

// Equal strings, or where they first differ (no multi-megabyte diff in the log).
::testing::AssertionResult same_octets(const std::string& got, const std::string& want) {
    if (got == want) return ::testing::AssertionSuccess();
    std::size_t i = 0;
    while (i < got.size() && i < want.size() && got[i] == want[i]) ++i;
    return ::testing::AssertionFailure()
           << "sizes " << got.size() << " / " << want.size() << ", first difference at " << i
           << ": " << got.substr(i, 40);
}

TEST(ImapSessionMemory, LargeMessageStreamedFromItsFile) {
    fixture f;
    const auto big = huge_message(3 * 1024 * 1024, 'a'), big2 = huge_message(1500 * 1024, 'b');
    f.deliver("1700000001.M1P1Q1.host", big);
    f.deliver("1700000002.M1P1Q2.host", big2);
    f.deliver("1700000003.M1P1Q3.host", msg1);
    auto a = f.selected(), b = f.selected();
    std::string expect = big, expect2 = big2;
    std::replace(expect.begin(), expect.end(), '\0', '\x80');
    std::replace(expect2.begin(), expect2.end(), '\0', '\x80');
    constexpr std::size_t bound = 256 * 1024 + 64 * 1024;

    auto steps = run_steps(a, "p FETCH 1:* (UID BODY.PEEK[] RFC822.SIZE)\r\n");
    for (std::size_t i = 0; i < steps.size(); ++i) EXPECT_LE(steps[i].output.size(), bound) << i;
    EXPECT_GE(steps.size(), 14u) << "4.5 MB in steps of 256 KiB";
    auto all = joined(steps);
    EXPECT_TRUE(same_octets(literal_after(all, "BODY[]"), expect));
    EXPECT_TRUE(
        has(all, " RFC822.SIZE " + std::to_string(big.size()) + ")\r\n* 2 FETCH (UID 2 BODY[] {"))
        << "the items after the literal follow it";
    auto second = all.substr(all.find("* 2 FETCH"));
    EXPECT_TRUE(same_octets(literal_after(second, "BODY[]"), expect2));
    EXPECT_TRUE(has(all, "* 3 FETCH (UID 3 BODY[] {"));
    EXPECT_EQ(all.rfind("p OK FETCH completed\r\n"), all.size() - 22);

    // A window of it, and RFC822 (sets \Seen: the file is renamed while it is being sent).
    all = joined(run_steps(a, "w FETCH 1 (BODY.PEEK[]<1000.600000>)\r\n"));
    EXPECT_TRUE(same_octets(literal_after(all, "BODY[]<1000>"), expect.substr(1000, 600000)));
    all = joined(run_steps(a, "w2 FETCH 1 (BODY.PEEK[]<3145000.600000>)\r\n"));
    EXPECT_TRUE(same_octets(literal_after(all, "BODY[]<3145000>"), expect.substr(3145000, 600000)));
    a.feed("r FETCH 1 (RFC822)\r\n");
    auto st = a.advance();
    ASSERT_TRUE(st.more);
    all = st.output;
    // Meanwhile another session expunges it: the literal still completes with its octets.
    auto r = say(b, "b1 STORE 1 +FLAGS.SILENT (\\Deleted)\r\nb2 EXPUNGE\r\n");
    EXPECT_TRUE(has(r.output, "* 1 EXPUNGE")) << r.output;
    do {
        st = a.advance();
        all += st.output;
    } while (st.more);
    std::size_t end = 0;
    EXPECT_TRUE(same_octets(literal_after(all, "RFC822", &end), expect));
    auto after = all.substr(std::min(end, all.size()));
    EXPECT_TRUE(has(after, " FLAGS (\\Seen")) << after.substr(0, 200);
    EXPECT_TRUE(has(after, "r OK FETCH completed")) << after.substr(0, 200);
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
