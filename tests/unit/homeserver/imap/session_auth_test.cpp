// IMAP session, authentication family: CAPABILITY, STARTTLS, LOGIN, AUTHENTICATE PLAIN
// (SASL-IR), failed-login delay and disconnect, the per-user session cap (NO [LIMIT]), LOGOUT.
#include "session_fixture.hpp"

namespace splitmail::home::imap {
namespace {
using namespace testing;

TEST(ImapSessionAuth, LoginDisabledBeforeTls) {
    fixture f;
    auto s = f.make(false, false);
    EXPECT_TRUE(has(s.greeting(), "LOGINDISABLED"));
    auto r = say(s, "a LOGIN demo@example.test secret\r\n");
    EXPECT_TRUE(has(r.output, "a NO [PRIVACYREQUIRED]")) << r.output;
    r = say(s, "b STARTTLS\r\nc LOGIN injected x\r\n");
    EXPECT_TRUE(r.start_tls);
    EXPECT_EQ(r.output, "b OK Begin TLS negotiation now\r\n") << "pipelined command not run";
    s.tls_started();
    r = s.advance();
    EXPECT_EQ(r.output, "") << "input buffered before TLS is dropped";
    r = say(s, "d LOGIN demo@example.test wrong\r\n");
    EXPECT_TRUE(r.delay);
    EXPECT_TRUE(has(r.output, "d NO [AUTHENTICATIONFAILED]"));
    // AUTHENTICATE PLAIN with SASL-IR: "\0demo@example.test\0secret"
    r = say(s, "e AUTHENTICATE PLAIN AGRlbW9AZXhhbXBsZS50ZXN0AHNlY3JldA==\r\n");
    EXPECT_TRUE(has(r.output, "e OK")) << r.output;
    EXPECT_EQ(s.current_state(), session::state::authenticated);
}

TEST(ImapSessionAuth, AuthenticateContinuationAndLoopbackPlaintext) {
    fixture f;
    auto s = f.make(false, true);
    EXPECT_TRUE(has(s.greeting(), "AUTH=PLAIN"));
    auto r = say(s, "a AUTHENTICATE PLAIN\r\n");
    EXPECT_EQ(r.output, "+ \r\n");
    r = say(s, "*\r\n");
    EXPECT_TRUE(has(r.output, "a BAD")) << "client cancelled";
    r = say(s, "b AUTHENTICATE PLAIN\r\nAGRlbW9AZXhhbXBsZS50ZXN0AHNlY3JldA==\r\n");
    EXPECT_TRUE(has(r.output, "b OK")) << r.output;
}

TEST(ImapSessionAuth, TooManyFailuresCloseTheConnection) {
    fixture f;
    auto s = f.make();
    step r;
    for (int i = 0; i < 5 && !r.close; ++i) r = say(s, "a LOGIN demo@example.test nope\r\n");
    EXPECT_TRUE(r.close);
    EXPECT_TRUE(has(r.output, "* BYE Too many authentication failures")) << r.output;
}

TEST(ImapSessionAuth, PerUserCapRefusesWithLimit) {
    fixture f;
    f.max_per_user = 2;
    auto a = f.make(), b = f.make(), c = f.make();
    EXPECT_TRUE(has(say(a, "a LOGIN demo@example.test secret\r\n").output, "a OK"));
    EXPECT_TRUE(has(say(b, "b AUTHENTICATE PLAIN AGRlbW9AZXhhbXBsZS50ZXN0AHNlY3JldA==\r\n").output,
                    "b OK"));
    auto r = say(c, "c LOGIN demo@example.test secret\r\n");
    EXPECT_TRUE(has(r.output, "c NO [LIMIT]")) << r.output;
    EXPECT_FALSE(r.delay) << "a refused slot is not a failed password";
    EXPECT_EQ(c.current_state(), session::state::not_authenticated);
    r = say(c, "d SELECT INBOX\r\n");
    EXPECT_TRUE(has(r.output, "d BAD")) << "still not logged in: " << r.output;
    f.slots["demo@example.test"] = 1; // one session ended (the listener gives the slot back)
    r = say(c, "e LOGIN demo@example.test secret\r\n");
    EXPECT_TRUE(has(r.output, "e OK")) << r.output;
}

TEST(ImapSessionAuth, CapabilityListsTheExtensions) {
    fixture f;
    auto s = f.make();
    auto r = say(s, "a CAPABILITY\r\n");
    for (const char* cap : {"IMAP4rev1", "IMAP4rev2", "LITERAL+", "LITERAL-", "ESEARCH",
                            "LIST-EXTENDED", "LIST-STATUS", "SEARCHRES", "SPECIAL-USE",
                            "APPENDLIMIT=", "AUTH=PLAIN", "SASL-IR", "IDLE", "UIDPLUS", "MOVE"})
        EXPECT_TRUE(has(r.output, std::string(" ") + cap)) << cap << ": " << r.output;
    r = say(s, "b LOGOUT\r\n");
    EXPECT_TRUE(r.close);
    EXPECT_EQ(r.output, "* BYE Logging out\r\nb OK LOGOUT completed\r\n");
}

} // namespace
} // namespace splitmail::home::imap
