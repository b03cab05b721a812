// IMAP session, MULTIAPPEND (RFC 3502): several messages in one APPEND with their own flags
// and dates, APPENDUID with a UID set (RFC 4315 3), and all or nothing: a message refused by
// validation or failing on disk leaves none of the command's messages in the mailbox.
#include "session_fixture.hpp"

#include <csignal>
#include <sys/resource.h>

namespace splitmail::home::imap {
namespace {
using namespace testing;

std::string lit(const std::string& m, bool plus = true) {
    return "{" + std::to_string(m.size()) + (plus ? "+" : "") + "}\r\n" + m;
}

TEST(ImapSessionMultiappend, SeveralMessagesFlagsDatesAndUidSet) {
    fixture f;
    auto s = f.make();
    say(s, "a LOGIN demo@example.test secret\r\n");
    auto r = say(s, "b CAPABILITY\r\n");
    EXPECT_TRUE(has(r.output, " MULTIAPPEND ")) << r.output;
    std::string m1 = "Subject: one\r\n\r\n1\r\n", m2 = "Subject: two\r\n\r\n2\r\n",
                m3 = "Subject: three\r\n\r\n3\r\n";
    // The second message with flags and a date, the third with a synchronizing literal.
    r = say(s, "c APPEND Drafts " + lit(m1) + " (\\Seen $Done) \"14-Nov-2023 22:13:20 +0000\" " +
                   lit(m2) + " " + lit(m3, false) + "\r\n");
    EXPECT_TRUE(has(r.output, "+ Ready")) << r.output;
    EXPECT_TRUE(has(r.output, "c OK [APPENDUID ")) << r.output;
    EXPECT_TRUE(has(r.output, " 1:3] APPEND completed")) << r.output;
    EXPECT_EQ(files_in(f.root / "demo" / ".Drafts" / "cur"), 3u);
    r = say(s, "d SELECT Drafts\r\ne FETCH 1:3 (FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS "
               "(SUBJECT)])\r\n");
    EXPECT_TRUE(has(r.output, "Subject: one")) << r.output;
    EXPECT_TRUE(has(r.output, "* 2 FETCH (INTERNALDATE \"14-Nov-2023 22:13:20 +0000\""))
        << r.output;
    // APPENDed messages are recent for the first session to select them (RFC 3501 2.3.2).
    EXPECT_TRUE(has(r.output, "Subject: two\r\n\r\n FLAGS (\\Seen $Done \\Recent))")) << r.output;
    EXPECT_TRUE(has(r.output, "Subject: three")) << r.output;
}

TEST(ImapSessionMultiappend, BadMessageAddsNone) {
    fixture f;
    auto s = f.make();
    say(s, "a LOGIN demo@example.test secret\r\n");
    std::string m = "Subject: x\r\n\r\nx\r\n";
    auto cur = f.root / "demo" / ".Drafts" / "cur";
    // a bad date for the second message: BAD, nothing written
    auto r =
        say(s, "b APPEND Drafts " + lit(m) + " \"31-Foo-2023 00:00:00 +0000\" " + lit(m) + "\r\n");
    EXPECT_TRUE(has(r.output, "b BAD")) << r.output;
    EXPECT_EQ(files_in(cur), 0u);
    // flags without a message at the end
    r = say(s, "c APPEND Drafts " + lit(m) + " (\\Seen)\r\n");
    EXPECT_TRUE(has(r.output, "c BAD")) << r.output;
    // a quoted string where a second message should be
    r = say(s, "d APPEND Drafts " + lit(m) + " \"Subject: q\"\r\n");
    EXPECT_TRUE(has(r.output, "d BAD")) << r.output;
    EXPECT_EQ(files_in(cur), 0u);
}

TEST(ImapSessionMultiappend, DiskFailureRemovesTheMessagesAlreadyWritten) {
    fixture f;
    auto s = f.make();
    say(s, "a LOGIN demo@example.test secret\r\n");
    auto r = say(s, "b SELECT Drafts\r\n");
    ASSERT_TRUE(has(r.output, "b OK")) << r.output;
    std::string small = "Subject: small\r\n\r\nx\r\n";
    std::string big = "Subject: big\r\n\r\n" + std::string(300000, 'y') + "\r\n";
    // The third message is larger than the process may write (RLIMIT_FSIZE: EFBIG), so its
    // add fails after the first two were written: they must go again (RFC 3502 3).
    struct rlimit old {};
    ::getrlimit(RLIMIT_FSIZE, &old);
    auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
    struct rlimit lim = old;
    lim.rlim_cur = 200000;
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &lim), 0);
    r = say(s, "c APPEND Drafts " + lit(small) + " " + lit(small) + " " + lit(big) + "\r\n");
    ::setrlimit(RLIMIT_FSIZE, &old);
    std::signal(SIGXFSZ, old_handler);
    EXPECT_TRUE(has(r.output, "c NO [SERVERBUG] Could not store message 3")) << r.output;
    EXPECT_EQ(files_in(f.root / "demo" / ".Drafts" / "cur"), 0u);
    EXPECT_EQ(files_in(f.root / "demo" / ".Drafts" / "tmp"), 0u);
    r = say(s, "d NOOP\r\ne STATUS Drafts (MESSAGES)\r\n");
    EXPECT_TRUE(has(r.output, "(MESSAGES 0)")) << r.output;
    // And the mailbox works on.
    r = say(s, "f APPEND Drafts " + lit(small) + "\r\n");
    EXPECT_TRUE(has(r.output, "f OK [APPENDUID")) << r.output;
}

} // namespace
} // namespace splitmail::home::imap
