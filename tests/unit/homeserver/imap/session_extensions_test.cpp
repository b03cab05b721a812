// IMAP session, extensions family: ENABLE (RFC 5161) with IMAP4rev2 (RFC 9051: no \Recent,
// no RECENT, ESEARCH), ID (RFC 2971), NAMESPACE (RFC 2342), UNSELECT (RFC 3691), commands in
// the wrong state, unknown commands.
#include "session_fixture.hpp"

namespace splitmail::home::imap {
namespace {
using namespace testing;

TEST(ImapSessionExtensions, EnableImap4rev2) {
    fixture f;
    f.deliver("1700000000.M1P1Q1.host", msg1);
    auto s = f.make();
    auto r = say(s, "a ENABLE IMAP4rev2\r\n");
    EXPECT_TRUE(has(r.output, "a BAD")) << "ENABLE needs authentication: " << r.output;
    say(s, "b LOGIN demo@example.test secret\r\n");
    r = say(s, "c ENABLE IMAP4rev2 X-UNKNOWN\r\n");
    EXPECT_EQ(r.output, "* ENABLED IMAP4rev2\r\nc OK ENABLE completed\r\n");
    r = say(s, "d SELECT INBOX\r\n");
    EXPECT_TRUE(has(r.output, "* 1 EXISTS\r\n")) << r.output;
    EXPECT_FALSE(has(r.output, "RECENT")) << r.output;
    r = say(s, "e STORE 1 +FLAGS (\\Seen)\r\nf FETCH 1 (FLAGS)\r\n");
    EXPECT_FALSE(has(r.output, "\\Recent")) << r.output;
    EXPECT_TRUE(has(r.output, "* 1 FETCH (FLAGS (\\Seen))")) << r.output;
    f.deliver("1700000001.M1P1Q2.host", msg1);
    r = say(s, "g NOOP\r\n");
    EXPECT_EQ(r.output, "* 2 EXISTS\r\ng OK NOOP completed\r\n");
    r = say(s, "h SEARCH ALL\r\n");
    EXPECT_EQ(r.output, "* ESEARCH (TAG \"h\") ALL 1:2\r\nh OK SEARCH completed\r\n");
    r = say(s, "i LIST \"\" Gone\r\nj STATUS INBOX (MESSAGES DELETED)\r\n");
    EXPECT_TRUE(has(r.output, "* STATUS INBOX (MESSAGES 2 DELETED 0)")) << r.output;
    r = say(s, "k ENABLE IMAP4rev2\r\n");
    EXPECT_EQ(r.output, "* ENABLED\r\nk OK ENABLE completed\r\n") << "already enabled";
}

TEST(ImapSessionExtensions, Rev2MailboxNamesAreUtf8) {
    fixture f;
    auto v2 = f.make(), v1 = f.make();
    say(v2, "a LOGIN demo@example.test secret\r\nb ENABLE IMAP4rev2\r\n");
    say(v1, "a LOGIN demo@example.test secret\r\n");
    const std::string utf8 = "Entw\xC3\xBCrfe"; // Entwürfe
    auto r = say(v2, "c CREATE \"" + utf8 + "\"\r\n");
    EXPECT_TRUE(has(r.output, "c OK")) << r.output;
    EXPECT_TRUE(fs::is_directory(f.root / "demo" / ".Entw&APw-rfe" / "cur"))
        << "stored as modified UTF-7, as Dovecot does";
    r = say(v2, "d LIST \"\" Entw*\r\n");
    EXPECT_TRUE(has(r.output, "* LIST (\\HasNoChildren) \".\" {9}\r\n" + utf8 + "\r\n"))
        << r.output;
    r = say(v1, "e LIST \"\" Entw*\r\n");
    EXPECT_TRUE(has(r.output, "* LIST (\\HasNoChildren) \".\" Entw&APw-rfe\r\n")) << r.output;
    r = say(v2, "f STATUS \"" + utf8 + "\" (MESSAGES)\r\ng SELECT \"" + utf8 + "\"\r\n");
    EXPECT_TRUE(has(r.output, "* STATUS {9}\r\n" + utf8 + " (MESSAGES 0)")) << r.output;
    EXPECT_TRUE(has(r.output, "g OK")) << r.output;
    r = say(v2, "h CREATE \"bad\xC3\"\r\n");
    EXPECT_TRUE(has(r.output, "h BAD Mailbox name is not valid UTF-8")) << r.output;
    r = say(v1, "i CREATE \"" + utf8 + "\"\r\n");
    EXPECT_TRUE(has(r.output, "i NO")) << "IMAP4rev1 names are modified UTF-7: " << r.output;
}

TEST(ImapSessionExtensions, WithoutRev2RecentIsReported) {
    fixture f;
    f.deliver("1700000000.M1P1Q1.host", msg1);
    auto s = f.selected();
    auto r = say(s, "f FETCH 1 (FLAGS)\r\n");
    EXPECT_TRUE(has(r.output, "* 1 FETCH (FLAGS (\\Recent))")) << r.output;
}

TEST(ImapSessionExtensions, IdNamespaceUnselect) {
    fixture f;
    auto s = f.make();
    auto r = say(s, "a ID (\"name\" \"test\")\r\n");
    EXPECT_TRUE(has(r.output, "* ID (\"name\" \"splitmail\"")) << r.output;
    r = say(s, "b NAMESPACE\r\n");
    EXPECT_TRUE(has(r.output, "b BAD")) << r.output;
    say(s, "c LOGIN demo@example.test secret\r\n");
    r = say(s, "d NAMESPACE\r\n");
    EXPECT_EQ(r.output, "* NAMESPACE ((\"\" \".\")) NIL NIL\r\nd OK NAMESPACE completed\r\n");
    r = say(s, "e UNSELECT\r\n");
    EXPECT_TRUE(has(r.output, "e BAD")) << "nothing selected: " << r.output;
    say(s, "f SELECT INBOX\r\n");
    r = say(s, "g UNSELECT\r\nh FETCH 1 (FLAGS)\r\n");
    EXPECT_TRUE(has(r.output, "g OK")) << r.output;
    EXPECT_TRUE(has(r.output, "h BAD")) << r.output;
    r = say(s, "i XYZZY\r\n* NOOP\r\n");
    EXPECT_TRUE(has(r.output, "i BAD Unknown command")) << r.output;
    EXPECT_TRUE(has(r.output, "* BAD")) << r.output;
}

TEST(ImapSessionExtensions, NestingAndLineLimits) {
    fixture f;
    codec_limits l;
    l.max_line = 200;
    auto s = f.make(true, false, l);
    say(s, "a LOGIN demo@example.test secret\r\n");
    auto r = say(s, "b STATUS INBOX " + std::string(20, '(') + std::string(20, ')') + "\r\n");
    EXPECT_TRUE(has(r.output, "b BAD")) << r.output;
    r = say(s, "c NOOP " + std::string(300, 'x') + "\r\nd NOOP\r\n");
    EXPECT_TRUE(has(r.output, "c BAD [TOOBIG]")) << r.output;
    EXPECT_TRUE(has(r.output, "d OK")) << r.output;
}

} // namespace
} // namespace splitmail::home::imap
