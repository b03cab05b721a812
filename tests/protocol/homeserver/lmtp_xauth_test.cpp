// XAUTH (issue 3): the private LMTP command the relay uses to check submission credentials.
// Session level (base64, NUL split, states) and resolver level (real user files, aliases).
#include "lmtp/session.hpp"
#include "users/resolver.hpp"

#include "splitmail/users/live_database.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace splitmail::home;
using splitmail::smtp::make_reply;

namespace {

std::string b64(std::string_view in) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    std::size_t i = 0;
    for (; i + 2 < in.size(); i += 3) {
        unsigned n =
            (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8 | (unsigned char)in[i + 2];
        out += {t[n >> 18], t[(n >> 12) & 63], t[(n >> 6) & 63], t[n & 63]};
    }
    if (in.size() - i == 1) {
        unsigned n = (unsigned char)in[i] << 16;
        out += {t[n >> 18], t[(n >> 12) & 63], '=', '='};
    } else if (in.size() - i == 2) {
        unsigned n = (unsigned char)in[i] << 16 | (unsigned char)in[i + 1] << 8;
        out += {t[n >> 18], t[(n >> 12) & 63], t[(n >> 6) & 63], '='};
    }
    return out;
}

struct seen {
    std::string user, password;
    int calls = 0;
};

std::string run(std::string_view input, seen& s, bool with_hook = true) {
    lmtp::session_hooks h;
    if (with_hook)
        h.authenticate = [&s](std::string_view u, std::string_view p) {
            ++s.calls;
            s.user = u;
            s.password = p;
            if (u == "a@x.test" && p == "secret")
                return make_reply(235, "2.7.0", std::vector<std::string>{"ok", "a@x.test"});
            return make_reply(535, "5.7.8", "Authentication credentials invalid");
        };
    lmtp::session_options o;
    o.hostname = "home.test";
    lmtp::session sess(o, h);
    std::string out;
    // byte by byte: the command must work for any split
    for (char c : input) {
        sess.feed(std::string_view(&c, 1));
        out += sess.advance().output;
    }
    return out;
}

constexpr std::string_view greeting_lhlo = "LHLO relay\r\n";

std::string after_lhlo(const std::string& out) {
    auto p = out.find("250 XDIRECTORY\r\n");
    return p == std::string::npos ? out : out.substr(p + 16);
}

} // namespace

TEST(LmtpXauth, GoodCredentialGives235WithAddresses) {
    seen s;
    auto out = run(std::string(greeting_lhlo) + "XAUTH " +
                       b64(std::string("a@x.test\0secret", 15)) + "\r\n",
                   s);
    EXPECT_EQ(after_lhlo(out), "235-2.7.0 ok\r\n235 2.7.0 a@x.test\r\n");
    EXPECT_EQ(s.user, "a@x.test");
    EXPECT_EQ(s.password, "secret");
}

TEST(LmtpXauth, WrongPasswordGives535) {
    seen s;
    auto out = run(
        std::string(greeting_lhlo) + "xauth " + b64(std::string("a@x.test\0nope", 13)) + "\r\n", s);
    EXPECT_EQ(after_lhlo(out), "535 5.7.8 Authentication credentials invalid\r\n");
    EXPECT_EQ(s.calls, 1);
}

TEST(LmtpXauth, MalformedArgumentsAre501AndNeverReachTheHook) {
    seen s;
    auto out = run(std::string(greeting_lhlo) + "XAUTH " + b64("no-nul-here") +
                       "\r\nXAUTH !!!!\r\nXAUTH abc\r\nXAUTH\r\n",
                   s);
    auto rest = after_lhlo(out);
    EXPECT_EQ(rest, std::string() + "501 5.5.2 XAUTH needs base64(user NUL password)\r\n"
                                    "501 5.5.2 XAUTH needs base64(user NUL password)\r\n"
                                    "501 5.5.2 XAUTH needs base64(user NUL password)\r\n"
                                    "501 5.5.2 XAUTH needs base64(user NUL password)\r\n");
    EXPECT_EQ(s.calls, 0);
}

TEST(LmtpXauth, NeedsLhloAndNoTransaction) {
    seen s;
    auto cred = b64(std::string("a@x.test\0secret", 15));
    auto out = run("XAUTH " + cred + "\r\n", s);
    EXPECT_NE(out.find("503 5.5.1 Say LHLO first"), std::string::npos);
    out = run(std::string(greeting_lhlo) + "MAIL FROM:<>\r\nXAUTH " + cred + "\r\n", s);
    EXPECT_NE(out.find("503 5.5.1 XAUTH not allowed in a transaction"), std::string::npos);
    EXPECT_EQ(s.calls, 0);
}

TEST(LmtpXauth, WithoutHookIs502) {
    seen s;
    auto out =
        run(std::string(greeting_lhlo) + "XAUTH " + b64(std::string("a\0b", 3)) + "\r\n", s, false);
    EXPECT_EQ(after_lhlo(out), "502 5.5.1 Command not implemented\r\n");
}

// Resolver against real files: password check, aliases the user may send as.
class XauthResolver : public ::testing::Test {
protected:
    std::filesystem::path dir;
    void SetUp() override {
        dir = std::filesystem::temp_directory_path() /
              ("xauth-" + std::to_string(::getpid()) + "-" +
               ::testing::UnitTest::GetInstance()->current_test_info()->name());
        std::filesystem::create_directories(dir);
        std::ofstream(dir / "users") << "a@x.test:{PLAIN}secret\nb@x.test:{PLAIN}other\n";
        std::ofstream(dir / "aliases") << "info@x.test: a@x.test\nteam@x.test: a@x.test, b@x.test\n"
                                          "bonly@x.test: b@x.test\n@x.test: b@x.test\n";
    }
    void TearDown() override { std::filesystem::remove_all(dir); }
};

TEST_F(XauthResolver, ListsOwnAddressAndAliasesContainingTheUser) {
    splitmail::users::live_database live({dir / "users", dir / "aliases", "+", {}});
    recipient_resolver r(live);
    ASSERT_TRUE(r.reload());
    auto rep = r.authenticate("A@x.test", "secret");
    EXPECT_EQ(rep.code, 235);
    EXPECT_EQ(rep.enhanced, "2.7.0");
    ASSERT_GE(rep.lines.size(), 2u);
    EXPECT_EQ(rep.lines[0], "ok");
    EXPECT_EQ(rep.lines[1], "a@x.test");
    std::vector<std::string> rest(rep.lines.begin() + 2, rep.lines.end());
    std::sort(rest.begin(), rest.end());
    EXPECT_EQ(rest, (std::vector<std::string>{"info@x.test", "team@x.test"}));
}

TEST_F(XauthResolver, WrongPasswordAndUnknownUserAreTheSame535) {
    splitmail::users::live_database live({dir / "users", dir / "aliases", "+", {}});
    recipient_resolver r(live);
    ASSERT_TRUE(r.reload());
    EXPECT_EQ(r.authenticate("a@x.test", "Secret").code, 535);
    EXPECT_EQ(r.authenticate("nobody@x.test", "secret").format(),
              r.authenticate("a@x.test", "wrong").format());
    // An alias is not a login name.
    EXPECT_EQ(r.authenticate("info@x.test", "secret").code, 535);
}

TEST(XauthResolverNoDb, NoDatabaseIs454) {
    splitmail::users::live_database live({"/nonexistent/users", "", "+", {}});
    recipient_resolver r(live);
    EXPECT_EQ(r.authenticate("a@x.test", "secret").code, 454);
}

// defer_auth (what the driver uses): the credential is handed out in step.auth, nothing after
// XAUTH is processed until authenticated(), then the reply comes first, in order.
TEST(LmtpXauth, DeferredCheckHoldsPipelinedCommandsUntilAnswered) {
    lmtp::session_options o;
    o.hostname = "home.test";
    o.defer_auth = true;
    lmtp::session sess(o, {});
    std::string input = std::string(greeting_lhlo) + "XAUTH " +
                        b64(std::string("a@x.test\0secret", 15)) + "\r\nMAIL FROM:<a@x.test>\r\n";
    std::string out;
    std::optional<lmtp::auth_request> req;
    for (char c : input) {
        sess.feed(std::string_view(&c, 1));
        auto st = sess.advance();
        out += st.output;
        if (st.auth) {
            ASSERT_FALSE(req) << "the credential is handed out once";
            req = std::move(st.auth);
        }
    }
    ASSERT_TRUE(req);
    EXPECT_EQ(req->user, "a@x.test");
    EXPECT_EQ(req->password, "secret");
    EXPECT_EQ(after_lhlo(out), "") << "MAIL must wait for the XAUTH answer";
    EXPECT_FALSE(sess.advance().auth) << "no second hand-out while waiting";
    sess.authenticated(make_reply(535, "5.7.8", "Authentication credentials invalid"));
    EXPECT_EQ(sess.advance().output,
              "535 5.7.8 Authentication credentials invalid\r\n250 2.1.0 Ok\r\n");
}

TEST_F(XauthResolver, HalvesAgreeWithTheWholeCheck) {
    splitmail::users::live_database live({dir / "users", dir / "aliases", "+", {}});
    recipient_resolver r(live);
    ASSERT_TRUE(r.reload());
    auto unknown = r.auth_lookup("nobody@x.test");
    ASSERT_TRUE(unknown.final);
    EXPECT_EQ(unknown.final->code, 535);
    auto found = r.auth_lookup("A@x.test");
    ASSERT_FALSE(found.final);
    EXPECT_EQ(found.address, "a@x.test");
    EXPECT_EQ(found.hash, "{PLAIN}secret");
    EXPECT_EQ(r.auth_finish(found, false).code, 535);
    auto ok = r.auth_finish(found, true);
    EXPECT_EQ(ok.code, 235);
    EXPECT_EQ(ok.lines, r.authenticate("a@x.test", "secret").lines);
}

// Issue 11 item 9: with a pairing secret, nothing that reads the directory, checks a password
// or delivers runs before XSECRET; a wrong secret ends the connection.
namespace {
std::string run_with_secret(std::string_view input, bool* closed = nullptr) {
    lmtp::session_hooks h;
    h.directory = [] { return std::vector<std::string>{"version x", "end"}; };
    h.authenticate = [](std::string_view, std::string_view) {
        return make_reply(535, "5.7.8", "Authentication credentials invalid");
    };
    lmtp::session_options o;
    o.hostname = "home.test";
    o.relay_secret = std::string(40, 'k');
    lmtp::session sess(o, h);
    std::string out;
    bool close = false;
    for (char c : input) {
        sess.feed(std::string_view(&c, 1));
        auto st = sess.advance();
        out += st.output;
        close = close || st.close;
    }
    if (closed) *closed = close;
    return out;
}
} // namespace

TEST(LmtpXsecret, EverythingButLhloNeedsTheSecret) {
    std::string in = std::string(greeting_lhlo) + "XDIRECTORY\r\nXAUTH " +
                     b64(std::string("a@x.test\0secret", 15)) +
                     "\r\nMAIL FROM:<a@x.test>\r\nRCPT TO:<a@x.test>\r\nDATA\r\n";
    EXPECT_EQ(after_lhlo(run_with_secret(in)), "530 5.7.0 Pairing secret required (XSECRET)\r\n"
                                               "530 5.7.0 Pairing secret required (XSECRET)\r\n"
                                               "530 5.7.0 Pairing secret required (XSECRET)\r\n"
                                               "530 5.7.0 Pairing secret required (XSECRET)\r\n"
                                               "530 5.7.0 Pairing secret required (XSECRET)\r\n");
}

TEST(LmtpXsecret, RightSecretOpensWrongSecretCloses) {
    auto ok = run_with_secret(std::string(greeting_lhlo) + "XSECRET " + std::string(40, 'k') +
                              "\r\nXDIRECTORY\r\n");
    EXPECT_EQ(after_lhlo(ok), "235 2.7.0 Relay authenticated\r\n250-version x\r\n250 end\r\n");
    bool closed = false;
    auto bad = run_with_secret(std::string(greeting_lhlo) + "XSECRET " + std::string(39, 'k') +
                                   "\r\nXDIRECTORY\r\n",
                               &closed);
    EXPECT_EQ(after_lhlo(bad),
              "535 5.7.8 Pairing secret invalid\r\n421 4.7.0 home.test closing connection\r\n");
    EXPECT_TRUE(closed);
}

TEST(LmtpXauth, ClientParameterNamesTheSubmissionClient) {
    lmtp::session_options o;
    o.hostname = "home.test";
    o.defer_auth = true;
    lmtp::session sess(o, {});
    sess.feed(std::string(greeting_lhlo) + "XAUTH " + b64(std::string("a@x.test\0secret", 15)) +
              " CLIENT=2001:db8::7\r\n");
    auto st = sess.advance();
    ASSERT_TRUE(st.auth);
    EXPECT_EQ(sess.auth_client(), "2001:db8::7");
    seen s;
    EXPECT_EQ(after_lhlo(run(std::string(greeting_lhlo) + "XAUTH " +
                                 b64(std::string("a@x.test\0secret", 15)) + " FOO=1\r\n",
                             s)),
              "501 5.5.4 XAUTH parameter must be CLIENT=<ip>\r\n");
    EXPECT_EQ(s.calls, 0);
}
