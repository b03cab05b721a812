// Submission helpers (issue 3): the credential cache (salted hash, ttl, forget on 535), the
// home's 235 address lines (the login brake is tested in tests/unit/common/auth), and the prefix headers of outgoing mail.
#include "submission/authenticator.hpp"
#include "submission/outgoing.hpp"

#include <gtest/gtest.h>

using namespace splitmail::relay;
using namespace std::chrono_literals;

namespace {
const sys_time t0 = std::chrono::system_clock::from_time_t(1'800'000'000);
}

TEST(credential_cache, accepts_only_the_remembered_password_within_ttl) {
    credential_cache c(7 * 24h);
    EXPECT_FALSE(c.check("a@x.test", "pw", t0)); // never accepted by home: never from cache
    c.remember("a@x.test", "pw", {"a@x.test", "info@x.test"}, t0);
    auto hit = c.check("a@x.test", "pw", t0 + 6 * 24h);
    ASSERT_TRUE(hit);
    EXPECT_EQ(*hit, (std::vector<std::string>{"a@x.test", "info@x.test"}));
    EXPECT_FALSE(c.check("a@x.test", "PW", t0 + 1h));
    EXPECT_FALSE(c.check("a@x.test", "pw2", t0 + 1h));
    EXPECT_FALSE(c.check("b@x.test", "pw", t0 + 1h));
    EXPECT_FALSE(c.check("a@x.test", "pw", t0 + 7 * 24h + 1s)); // expired
    // A new successful check (e.g. after a password change) replaces the entry.
    c.remember("a@x.test", "new", {"a@x.test"}, t0 + 1h);
    EXPECT_FALSE(c.check("a@x.test", "pw", t0 + 2h));
    EXPECT_TRUE(c.check("a@x.test", "new", t0 + 2h));
    c.forget("a@x.test"); // home said 535
    EXPECT_FALSE(c.check("a@x.test", "new", t0 + 2h));
    EXPECT_EQ(c.size(), 0u);
}

TEST(submission_helpers, addresses_from_home_reply) {
    EXPECT_EQ(addresses_from_reply({"ok", "A@x.test", "info@x.test", "garbage", "two words@x"}),
              (std::vector<std::string>{"a@x.test", "info@x.test"}));
}

TEST(outgoing, missing_headers_adds_only_what_is_absent) {
    auto both = missing_headers("From: a@x.test\r\nSubject: s\r\n\r\nbody\r\n", "relay.x.test", t0);
    EXPECT_EQ(both.rfind("Date: ", 0), 0u) << both;
    EXPECT_NE(both.find("\r\nMessage-ID: <1800000000."), std::string::npos) << both;
    EXPECT_NE(both.find("@relay.x.test>\r\n"), std::string::npos) << both;
    EXPECT_NE(both.find("+0000\r\n"), std::string::npos) << both;
    EXPECT_EQ(missing_headers("date: x\r\nmessage-id: <1@x>\r\n\r\nbody\r\n", "r", t0), "");
    auto only_id = missing_headers("Date: x\r\n\r\nbody\r\n", "r", t0);
    EXPECT_EQ(only_id.rfind("Message-ID: <", 0), 0u);
    // "Date:" in the body does not count.
    EXPECT_NE(missing_headers("From: a@x\r\n\r\nDate: no\r\n", "r", t0).find("Date: "),
              std::string::npos);
}

TEST(outgoing, from_domain_forms) {
    EXPECT_EQ(from_domain("From: a@Example.TEST\r\n\r\n"), "example.test");
    EXPECT_EQ(from_domain("Subject: x\r\nfrom: \"A @ B\" <a@x.test>\r\n\r\n"), "x.test");
    EXPECT_EQ(from_domain("From: Alice\r\n <alice@folded.test>\r\n\r\n"), "folded.test");
    EXPECT_EQ(from_domain("Subject: none\r\n\r\nFrom: a@body.test\r\n"), std::nullopt);
    EXPECT_EQ(from_domain("From: undisclosed\r\n\r\n"), std::nullopt);
}

TEST(outgoing, keyring_skips_domains_without_keys_unless_named) {
    std::vector<std::string> problems;
    auto k = dkim_keyring::load("/nonexistent-dkim", {}, {"x.test"}, &problems);
    ASSERT_TRUE(k);
    EXPECT_TRUE(k->empty());
    EXPECT_EQ(problems.size(), 1u);
    EXPECT_FALSE(dkim_keyring::load("/nonexistent-dkim", {"x.test"}, {"x.test"}, nullptr));
    auto none = dkim_keyring::load("", {}, {"x.test"}, nullptr);
    ASSERT_TRUE(none);
    EXPECT_EQ(none->for_domain("x.test"), nullptr);
}

TEST(outgoing, keyring_loads_keys_and_signs_with_both) {
    auto k = dkim_keyring::load(SPLITMAIL_TEST_DATA "/dkim/keys", {},
                                {"example.test", "other.test"}, nullptr);
    ASSERT_TRUE(k);
    EXPECT_EQ(k->domains(), (std::vector<std::string>{"example.test"}));
    const auto* s = k->for_domain("example.test");
    ASSERT_NE(s, nullptr);
    EXPECT_EQ(s->keys().size(), 2u);
    auto sig = s->sign("From: a@example.test\r\nSubject: s\r\n\r\nbody\r\n", 1'800'000'000);
    ASSERT_TRUE(sig) << sig.error();
    EXPECT_NE(sig->find("a=rsa-sha256"), std::string::npos);
    EXPECT_NE(sig->find("a=ed25519-sha256"), std::string::npos);
}
