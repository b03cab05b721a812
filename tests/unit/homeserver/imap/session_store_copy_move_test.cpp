// IMAP session, store/copy/move family: STORE flags (file name info), COPY and MOVE with
// COPYUID (UIDPLUS), EXPUNGE, and changes made by another session reported only where
// RFC 3501 7.4.1 allows.
#include "session_fixture.hpp"

namespace splitmail::home::imap {
namespace {
using namespace testing;

TEST(ImapSessionStore, StoreSetsFlagsInTheFileName) {
    fixture f;
    f.deliver("1700000000.M1P1Q1.host", msg1);
    auto s = f.selected();
    auto r = say(s, "d STORE 1 +FLAGS (\\Seen \\Flagged)\r\n");
    EXPECT_TRUE(has(r.output, "* 1 FETCH (FLAGS (\\Flagged \\Seen \\Recent))")) << r.output;
    auto files = std::vector<fs::path>(fs::directory_iterator(f.root / "demo" / "cur"), {});
    ASSERT_EQ(files.size(), 1u);
    EXPECT_TRUE(files[0].filename().string().ends_with(":2,FS")) << files[0];
    r = say(s, "e STORE 1 -FLAGS.SILENT (\\Flagged)\r\n");
    EXPECT_EQ(r.output, "e OK STORE completed\r\n");
}

TEST(ImapSessionStore, OtherSessionChangesAtAllowedPoints) {
    fixture f;
    f.deliver("1700000000.M1P1Q1.host", msg1);
    f.deliver("1700000001.M1P1Q2.host", msg1);
    auto a = f.selected(), b = f.selected();
    auto r = say(b, "b1 STORE 1 +FLAGS (\\Deleted)\r\nb2 EXPUNGE\r\n");
    EXPECT_TRUE(has(r.output, "* 1 EXPUNGE")) << r.output;
    r = say(a, "a1 FETCH 1:* (FLAGS)\r\n");
    EXPECT_FALSE(has(r.output, "EXPUNGE")) << "no EXPUNGE during FETCH: " << r.output;
    r = say(a, "a2 NOOP\r\n");
    EXPECT_TRUE(has(r.output, "* 1 EXPUNGE")) << r.output;
    f.deliver("1700000002.M1P1Q3.host", msg1);
    r = say(a, "a3 NOOP\r\n");
    EXPECT_TRUE(has(r.output, "* 2 EXISTS")) << r.output;
    r = say(a, "a4 UID FETCH 1:* (UID)\r\n");
    EXPECT_TRUE(has(r.output, "UID 2"));
    EXPECT_TRUE(has(r.output, "UID 3")) << r.output;
}

TEST(ImapSessionStore, CopyAndMove) {
    fixture f;
    f.deliver("1700000000.M1P1Q1.host", msg1);
    auto s = f.selected();
    auto r = say(s, "c COPY 1 Archive\r\n");
    EXPECT_TRUE(has(r.output, "c OK [COPYUID ")) << r.output;
    r = say(s, "d MOVE 1 Trash\r\n");
    EXPECT_TRUE(has(r.output, "* OK [COPYUID")) << r.output;
    EXPECT_TRUE(has(r.output, "* 1 EXPUNGE")) << r.output;
    r = say(s, "e UID COPY 99 Archive\r\nf STATUS Trash (MESSAGES)\r\n");
    EXPECT_TRUE(has(r.output, "e OK")) << "no such UID is no error (RFC 3501 6.4.8): " << r.output;
    EXPECT_FALSE(has(r.output, "COPYUID")) << "nothing copied, no COPYUID: " << r.output;
    EXPECT_TRUE(has(r.output, "* STATUS Trash (MESSAGES 1)")) << r.output;
}

} // namespace
} // namespace splitmail::home::imap
