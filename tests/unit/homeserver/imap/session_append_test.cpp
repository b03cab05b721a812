// IMAP session, append family: APPEND with flags and date (APPENDUID), synchronizing and
// non-synchronizing literals fed whole and byte by byte, TRYCREATE, APPENDLIMIT / [TOOBIG],
// and a connection that ends mid-literal leaving nothing behind.
#include "session_fixture.hpp"

namespace splitmail::home::imap {
namespace {
using namespace testing;

session logged_in(fixture& f, codec_limits l = {}) {
    auto s = f.make(true, false, l);
    say(s, "a LOGIN demo@example.test secret\r\n");
    return s;
}

TEST(ImapSessionAppend, SyncLiteralFlagsDate) {
    fixture f;
    auto s = logged_in(f);
    auto r = say(s, "e APPEND Drafts (\\Draft) \"14-Nov-2023 22:13:20 +0000\" {5}\r\n");
    EXPECT_EQ(r.output, "+ Ready for literal data\r\n");
    r = say(s, "x\r\ny\r\n");
    EXPECT_TRUE(has(r.output, "e OK [APPENDUID")) << r.output;
    auto cur = f.root / "demo" / ".Drafts" / "cur";
    ASSERT_EQ(files_in(cur), 1u);
    auto file = fs::directory_iterator(cur)->path();
    EXPECT_TRUE(file.filename().string().ends_with(":2,D")) << file;
    auto mtime = fs::last_write_time(file);
    auto secs = std::chrono::duration_cast<std::chrono::seconds>(
                    std::chrono::file_clock::to_sys(mtime).time_since_epoch())
                    .count();
    EXPECT_EQ(secs, 1700000000) << "INTERNALDATE is the given date";
    r = say(s, "f APPEND Nope {1+}\r\nx\r\n");
    EXPECT_TRUE(has(r.output, "f NO [TRYCREATE]")) << r.output;
}

TEST(ImapSessionAppend, ByteByByteLiteralPlusAndMinus) {
    fixture f;
    auto s = logged_in(f);
    std::string body = "Subject: bytes\r\n\r\n{3}\r\nnot a literal\r\n";
    // LITERAL+ / LITERAL- (RFC 7888): no continuation, the octets follow at once.
    auto out = say_bytewise(s, "n APPEND INBOX {" + std::to_string(body.size()) + "+}\r\n" + body +
                                   "\r\n");
    EXPECT_FALSE(has(out, "+ Ready")) << out;
    EXPECT_TRUE(has(out, "n OK [APPENDUID")) << out;
    out =
        say_bytewise(s, "m APPEND INBOX {" + std::to_string(body.size()) + "}\r\n" + body + "\r\n");
    EXPECT_TRUE(out.starts_with("+ Ready for literal data\r\n")) << out;
    EXPECT_TRUE(has(out, "m OK [APPENDUID")) << out;
    auto r = say(s, "s SELECT INBOX\r\nt FETCH 1:2 (BODY.PEEK[])\r\n");
    EXPECT_TRUE(
        has(r.output, "* 1 FETCH (BODY[] {" + std::to_string(body.size()) + "}\r\n" + body + ")"))
        << r.output;
    EXPECT_TRUE(
        has(r.output, "* 2 FETCH (BODY[] {" + std::to_string(body.size()) + "}\r\n" + body + ")"))
        << r.output;
}

TEST(ImapSessionAppend, Literal8) {
    fixture f;
    auto s = logged_in(f);
    std::string msg("Subject: nul\r\n\r\na\0b\r\n", 21);
    auto r = say(s, "a APPEND INBOX ~{" + std::to_string(msg.size()) + "+}\r\n" + msg + "\r\n");
    EXPECT_TRUE(has(r.output, "a OK [APPENDUID")) << r.output;
    auto cur = f.root / "demo" / "cur";
    ASSERT_EQ(files_in(cur), 1u);
    std::ifstream in(fs::directory_iterator(cur)->path(), std::ios::binary);
    std::string stored((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    EXPECT_EQ(stored, msg) << "the NUL is kept";
}

TEST(ImapSessionAppend, OverTheLimit) {
    fixture f;
    codec_limits l;
    l.max_append_literal = 100;
    auto s = logged_in(f, l);
    auto r = say(s, "c CAPABILITY\r\n");
    EXPECT_TRUE(has(r.output, " APPENDLIMIT=100")) << r.output;
    r = say(s, "a APPEND INBOX {101}\r\n");
    EXPECT_EQ(r.output, "a NO [TOOBIG] Literal too large\r\n")
        << "no '+': the client sends nothing";
    EXPECT_FALSE(r.close);
    r = say(s, "b NOOP\r\n");
    EXPECT_EQ(r.output, "b OK NOOP completed\r\n") << "the session goes on";
    r = say(s, "d APPEND INBOX {101+}\r\n");
    EXPECT_TRUE(has(r.output, "d BAD [TOOBIG]")) << r.output;
    EXPECT_TRUE(r.close) << "octets of a refused non-synchronizing literal are on their way";
    EXPECT_EQ(files_in(f.root / "demo" / "cur"), 0u);
    EXPECT_EQ(files_in(f.root / "demo" / "tmp"), 0u);
}

TEST(ImapSessionAppend, DisconnectMidLiteralLeavesNothing) {
    fixture f;
    {
        auto s = logged_in(f);
        auto r = say(s, "a APPEND INBOX {100+}\r\nSubject: half\r\n\r\nonly part of it");
        EXPECT_EQ(r.output, "") << r.output;
    } // the connection ends here: the session is destroyed
    EXPECT_EQ(files_in(f.root / "demo" / "cur"), 0u);
    EXPECT_EQ(files_in(f.root / "demo" / "new"), 0u);
    EXPECT_EQ(files_in(f.root / "demo" / "tmp"), 0u);
}

} // namespace
} // namespace splitmail::home::imap
