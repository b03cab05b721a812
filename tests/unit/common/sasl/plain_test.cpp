// common/sasl: the one PLAIN / LOGIN / XAUTH decoder (issue 13): RFC 4616 syntax, caps, the
// authzid rule, and that secrets are wiped.
#include <gtest/gtest.h>

#include "splitmail/sasl/plain.hpp"

#include <string>

using namespace splitmail::sasl;

namespace {
std::string b64(std::string_view s) {
    static const char* t = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string o;
    std::size_t i = 0;
    for (; i + 2 < s.size(); i += 3) {
        unsigned v =
            (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8 | (unsigned char)s[i + 2];
        o += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], t[v & 63]};
    }
    if (i + 1 == s.size()) {
        unsigned v = (unsigned char)s[i] << 16;
        o += {t[v >> 18], t[(v >> 12) & 63], '=', '='};
    } else if (i + 2 == s.size()) {
        unsigned v = (unsigned char)s[i] << 16 | (unsigned char)s[i + 1] << 8;
        o += {t[v >> 18], t[(v >> 12) & 63], t[(v >> 6) & 63], '='};
    }
    return o;
}
using namespace std::string_literals;
} // namespace

TEST(sasl_plain, rfc4616_syntax) {
    auto c = decode_plain(b64("\0alice@example.test\0pw"s));
    ASSERT_TRUE(c);
    EXPECT_EQ(c->authzid, "");
    EXPECT_EQ(c->authcid, "alice@example.test");
    EXPECT_EQ(c->password.view(), "pw");
    auto z = decode_plain(b64("admin\0alice\0pw"s));
    ASSERT_TRUE(z);
    EXPECT_EQ(z->authzid, "admin");
    for (auto bad : {"alice\0pw"s, "\0\0pw"s, "\0alice\0"s, "\0alice\0p\0w"s, ""s, "nonul"s}) {
        auto r = decode_plain(b64(bad));
        ASSERT_FALSE(r) << testing::PrintToString(bad);
        EXPECT_EQ(r.error(), error::malformed);
    }
    EXPECT_EQ(decode_plain("=").error(), error::malformed); // empty response
    EXPECT_EQ(decode_plain("not base64!").error(), error::bad_base64);
}

TEST(sasl_plain, length_caps) {
    EXPECT_TRUE(decode_plain(
        b64("\0"s + std::string(max_user, 'u') + "\0"s + std::string(max_password, 'p'))));
    EXPECT_EQ(decode_plain(b64("\0"s + std::string(max_user + 1, 'u') + "\0pw"s)).error(),
              error::too_long);
    EXPECT_EQ(decode_plain(b64("\0u\0"s + std::string(max_password + 1, 'p'))).error(),
              error::too_long);
    EXPECT_EQ(decode_plain(b64(std::string(max_user + 1, 'z') + "\0u\0pw"s)).error(),
              error::too_long);
    EXPECT_EQ(decode_login_step(b64(std::string(max_password + 1, 'p'))).error(), error::too_long);
}

TEST(sasl_plain, xauth_and_login) {
    auto x = decode_user_password(b64("bob@example.test\0s3cret"s));
    ASSERT_TRUE(x);
    EXPECT_EQ(x->authcid, "bob@example.test");
    EXPECT_EQ(x->password.view(), "s3cret");
    EXPECT_EQ(decode_user_password(b64("bob"s)).error(), error::malformed);
    EXPECT_EQ(decode_user_password(b64("\0pw"s)).error(), error::malformed);
    EXPECT_EQ(decode_user_password(b64("bob\0"s)).error(), error::malformed);
    EXPECT_EQ(decode_user_password("%%").error(), error::bad_base64);
    auto u = decode_login_step(b64("alice"));
    ASSERT_TRUE(u);
    EXPECT_EQ(u->view(), "alice");
    auto e = decode_login_step("=");
    ASSERT_TRUE(e);
    EXPECT_TRUE(e->empty());
    EXPECT_EQ(decode_login_step(b64("a\0b"s)).error(), error::malformed);
}

TEST(sasl_plain, one_authzid_rule) {
    EXPECT_TRUE(authzid_acceptable("", "alice@example.test"));
    EXPECT_TRUE(authzid_acceptable("Alice@Example.TEST", "alice@example.test"));
    EXPECT_FALSE(authzid_acceptable("bob@example.test", "alice@example.test"));
    // An alias logging in as its user may name the user it became.
    EXPECT_TRUE(
        authzid_acceptable("alice@example.test", "info@example.test", "alice@example.test"));
    EXPECT_FALSE(authzid_acceptable("bob@example.test", "info@example.test", "alice@example.test"));
}

TEST(sasl_plain, secrets_are_wiped) {
    std::string s = "a password long enough to live on the heap";
    const char* p = s.data();
    const auto n = s.size();
    std::string keep = s; // what the bytes were
    wipe(s);
    EXPECT_TRUE(s.empty());
    // The buffer is still owned by `s` (clear() keeps capacity): it must be all zero now.
    for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(p[i], '\0') << "byte " << i;
    secret a{std::string(keep)};
    secret b = std::move(a);
    EXPECT_TRUE(a.empty());
    EXPECT_EQ(b.view(), keep);
}
