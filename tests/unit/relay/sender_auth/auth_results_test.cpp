// Authentication-Results (RFC 8601): the writer's syntax, what describe() reports for SPF and
// DKIM results, and the removal of fields claiming our authserv-id (RFC 8601 5).
#include "sender_auth/auth_results.hpp"
#include "sender_auth/inbound.hpp"

#include <gtest/gtest.h>

using namespace splitmail::relay;
using namespace splitmail::relay::sender_auth;

TEST(auth_results, writes_rfc8601_fields) {
    std::vector<method_result> m = {
        {"spf", "pass", "matched ip4:192.0.2.0/24", {{"smtp.mailfrom", "a@example.org"}}},
        {"dkim",
         "fail",
         "body hash did not verify",
         {{"header.d", "example.org"},
          {"header.s", "sel"},
          {"header.a", "rsa-sha256"},
          {"header.b", "ab/c+d=e"}}}};
    EXPECT_EQ(authentication_results("mx.example.test", m),
              "Authentication-Results: mx.example.test;\r\n"
              "\tspf=pass reason=\"matched ip4:192.0.2.0/24\"\r\n"
              "\t smtp.mailfrom=a@example.org;\r\n"
              "\tdkim=fail reason=\"body hash did not verify\"\r\n"
              "\t header.d=example.org\r\n"
              "\t header.s=sel\r\n"
              "\t header.a=rsa-sha256\r\n"
              "\t header.b=\"ab/c+d=e\"\r\n");
    // RFC 8601 2.2: no result at all.
    EXPECT_EQ(authentication_results("mx.example.test", {}),
              "Authentication-Results: mx.example.test; none\r\n");
}

// Client-controlled text cannot end the field, add a method or a property.
TEST(auth_results, hostile_values_are_quoted_and_cleaned) {
    std::vector<method_result> m = {
        {"spf", "fail", "evil\r\nX-Injected: 1", {{"smtp.mailfrom", "\"a;dkim=pass\"\r\n@x.org"}}}};
    const std::string f = authentication_results("mx.example.test", m);
    EXPECT_EQ(f.find("\r\nX-Injected"), std::string::npos) << f;
    EXPECT_NE(f.find("reason=\"evilX-Injected: 1\""), std::string::npos) << f;
    EXPECT_NE(f.find("smtp.mailfrom=\"\\\"a;dkim=pass\\\"@x.org\""), std::string::npos) << f;
    std::size_t crlf = 0;
    for (std::size_t at = 0; (at = f.find("\r\n", at)) != std::string::npos; at += 2) ++crlf;
    EXPECT_EQ(crlf, 3u) << f; // header line, spf line, property line
    const std::string longv(5000, 'x');
    const std::string g = authentication_results("h", {{{"spf", "pass", longv, {}}}});
    EXPECT_LT(g.size(), 400u);
}

TEST(auth_results, authserv_id_of) {
    EXPECT_EQ(authserv_id_of(" mx.example.test; spf=pass"), "mx.example.test");
    EXPECT_EQ(authserv_id_of(" (comment (nested)) MX.example.test 1; dkim=pass"),
              "MX.example.test");
    EXPECT_EQ(authserv_id_of("\r\n\t\"mx.example.test\"; none"), "mx.example.test");
    EXPECT_EQ(authserv_id_of("mx.example.test(c); none"), "mx.example.test");
    EXPECT_EQ(authserv_id_of(""), "");
}

TEST(auth_results, removes_only_our_fields) {
    const std::string block = "Received: from x\r\n"
                              "Authentication-Results: MX.Example.Test;\r\n"
                              "\tdkim=pass header.d=bank.test\r\n"
                              "authentication-results: other.example; spf=pass\r\n"
                              "Authentication-Results: mx.example.test.evil; none\r\n"
                              "Subject: hi\r\n"
                              "X-Note: Authentication-Results: mx.example.test; none\r\n"
                              "\r\n";
    auto r = remove_results_for(block, "mx.example.test");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->fields, 1u);
    EXPECT_EQ(r->block, "Received: from x\r\n"
                        "authentication-results: other.example; spf=pass\r\n"
                        "Authentication-Results: mx.example.test.evil; none\r\n"
                        "Subject: hi\r\n"
                        "X-Note: Authentication-Results: mx.example.test; none\r\n"
                        "\r\n");
    EXPECT_FALSE(remove_results_for("Subject: x\r\n\r\n", "mx.example.test"));
}

TEST(auth_results, describe_spf_and_dkim) {
    splitmail::queue::envelope env;
    env.sender = "a@example.org";
    env.client_helo = "client.example.org";
    inbound_spf spf;
    spf.ev.code = splitmail::spf::result::softfail;
    spf.ev.mechanism = "~all";
    auto m = describe(spf, env, nullptr);
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0].method, "spf");
    EXPECT_EQ(m[0].result, "softfail");
    EXPECT_EQ(m[0].properties.at(0),
              (std::pair<std::string, std::string>{"smtp.mailfrom", "a@example.org"}));
    spf.helo_identity = true;
    EXPECT_EQ(describe(spf, env, nullptr)[0].properties.at(0).first, "smtp.helo");
    // Verification on, no signature: dkim=none.
    splitmail::relay::dkim::message_verifier v("From: a@example.org\r\n\r\n", {});
    v.finish_body();
    m = describe(std::nullopt, env, &v);
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0].method, "dkim");
    EXPECT_EQ(m[0].result, "none");
    // RFC 7489 11.2: dmarc with header.from; a failure names the policy applied.
    dmarc::outcome dm;
    dm.code = dmarc::result::fail;
    dm.applied = dmarc::policy::quarantine;
    dm.from_domain = "example.org";
    dm.reason = "no aligned SPF or DKIM pass";
    m = describe(std::nullopt, env, nullptr, dm);
    ASSERT_EQ(m.size(), 1u);
    EXPECT_EQ(m[0].method, "dmarc");
    EXPECT_EQ(m[0].result, "fail");
    EXPECT_EQ(m[0].properties.at(0),
              (std::pair<std::string, std::string>{"header.from", "example.org"}));
    EXPECT_EQ(m[0].properties.at(1),
              (std::pair<std::string, std::string>{"policy.dmarc", "quarantine"}));
}
