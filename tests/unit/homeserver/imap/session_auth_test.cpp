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

// defer_auth (what the listener uses): the credential goes out in step.auth, commands
// pipelined behind the login wait for auth_result(), and the login reply comes first.
namespace {
splitmail::home::imap::session deferred_session(splitmail::home::imap::testing::fixture& f) {
    using namespace splitmail::home::imap;
    session_config cfg;
    cfg.tls_active = true;
    cfg.defer_auth = true;
    session_hooks h;
    h.maildir_of = [&f](const std::string&) { return f.root / "demo"; };
    return session(cfg, h);
}
} // namespace

TEST(ImapDeferredAuth, LoginWaitsForTheVerdictAndKeepsOrder) {
    splitmail::home::imap::testing::fixture f;
    auto s = deferred_session(f);
    s.greeting();
    s.feed("a LOGIN demo@example.test secret\r\nb NOOP\r\n");
    auto st = s.advance();
    ASSERT_TRUE(st.auth);
    EXPECT_EQ(st.auth->user, "demo@example.test");
    EXPECT_EQ(st.auth->password, "secret");
    EXPECT_EQ(st.output, "") << "NOOP must wait for the login verdict";
    auto again = s.advance();
    EXPECT_FALSE(again.auth);
    EXPECT_EQ(again.output, "");
    s.auth_result(std::string("demo@example.test"));
    auto out = s.advance().output;
    EXPECT_EQ(out.rfind("a OK [CAPABILITY ", 0), 0u) << out;
    EXPECT_NE(out.find("\r\nb OK NOOP completed\r\n"), std::string::npos) << out;
    EXPECT_EQ(s.current_state(), splitmail::home::imap::session::state::authenticated);
}

TEST(ImapDeferredAuth, FailedVerdictDelaysAndAuthenticatePlainChecksAuthz) {
    splitmail::home::imap::testing::fixture f;
    auto s = deferred_session(f);
    s.feed("a LOGIN demo@example.test wrong\r\n");
    ASSERT_TRUE(s.advance().auth);
    s.auth_result(std::nullopt);
    auto st = s.advance();
    EXPECT_TRUE(st.delay) << "a failed login is answered after the delay";
    EXPECT_EQ(st.output, "a NO [AUTHENTICATIONFAILED] Authentication failed\r\n");
    // AUTHENTICATE PLAIN with an authorization identity of someone else: refused even when
    // the password is right.
    std::string other("other@example.test\0demo@example.test\0secret", 43);
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string b64;
    for (std::size_t i = 0; i < other.size(); i += 3) {
        unsigned n = (unsigned char)other[i] << 16;
        if (i + 1 < other.size()) n |= (unsigned char)other[i + 1] << 8;
        if (i + 2 < other.size()) n |= (unsigned char)other[i + 2];
        b64 += t[n >> 18];
        b64 += t[(n >> 12) & 63];
        b64 += i + 1 < other.size() ? t[(n >> 6) & 63] : '=';
        b64 += i + 2 < other.size() ? t[n & 63] : '=';
    }
    s.feed("c AUTHENTICATE PLAIN " + b64 + "\r\n");
    auto st2 = s.advance();
    ASSERT_TRUE(st2.auth);
    EXPECT_EQ(st2.auth->user, "demo@example.test");
    s.auth_result(std::string("demo@example.test"));
    EXPECT_EQ(s.advance().output, "c NO [AUTHENTICATIONFAILED] Authentication failed\r\n");
    EXPECT_EQ(s.current_state(), splitmail::home::imap::session::state::not_authenticated);
}
