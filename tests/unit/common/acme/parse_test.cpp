// ACME answer parsing: problem documents, Retry-After, directory, orders, authorizations.
#include <gtest/gtest.h>

#include "splitmail/acme/parse.hpp"

namespace acme = splitmail::acme;
using namespace std::chrono_literals;

TEST(AcmeProblem, RateLimitedBecomesItsOwnKindWithRetryAfter) {
    auto e = acme::error_from_response(
        "newOrder", 429,
        R"({"type":"urn:ietf:params:acme:error:rateLimited","detail":"too many certificates already issued","status":429})",
        3600s);
    EXPECT_EQ(e.kind, acme::error_kind::rate_limited);
    ASSERT_TRUE(e.retry_after);
    EXPECT_EQ(*e.retry_after, 3600s);
    EXPECT_EQ(e.message,
              "newOrder: HTTP 429: rateLimited: too many certificates already issued (HTTP 429)");
    EXPECT_NE(e.text().find("retry after 3600s"), std::string::npos);
}

TEST(AcmeProblem, SubproblemsNameTheirIdentifier) {
    auto p = acme::parse_problem(R"({
        "type": "urn:ietf:params:acme:error:malformed",
        "detail": "Some of the identifiers requested were rejected",
        "subproblems": [
            {"type": "urn:ietf:params:acme:error:malformed", "detail": "Invalid underscore in DNS name \"_example.org\"",
             "identifier": {"type": "dns", "value": "_example.org"}},
            {"type": "urn:ietf:params:acme:error:rejectedIdentifier", "detail": "This CA will not issue for \"example.net\"",
             "identifier": {"type": "dns", "value": "example.net"}}
        ]})");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->short_type(), "malformed");
    ASSERT_EQ(p->subproblems.size(), 2u);
    EXPECT_EQ(p->subproblems[1].identifier, "dns:example.net");
    EXPECT_EQ(
        p->describe(),
        "malformed: Some of the identifiers requested were rejected; malformed [dns:_example.org]: "
        "Invalid underscore in DNS name \"_example.org\"; rejectedIdentifier [dns:example.net]: "
        "This CA will not issue for \"example.net\"");
}

TEST(AcmeProblem, NonProblemBodiesStillGiveAClearError) {
    EXPECT_FALSE(acme::parse_problem("<html>502 Bad Gateway</html>"));
    EXPECT_FALSE(acme::parse_problem(R"({"detail":"no type"})"));
    EXPECT_FALSE(acme::parse_problem("[]"));
    auto e = acme::error_from_response("newNonce", 502, "<html>bad\ngateway</html>", std::nullopt);
    EXPECT_EQ(e.kind, acme::error_kind::server);
    EXPECT_EQ(e.message, "newNonce: HTTP 502: <html>bad?gateway</html>");
    auto bn = acme::error_from_response("order", 400,
                                        R"({"type":"urn:ietf:params:acme:error:badNonce"})", {});
    ASSERT_TRUE(bn.detail);
    EXPECT_EQ(bn.detail->short_type(), "badNonce");
    // A foreign type is shown whole.
    auto p = acme::parse_problem(R"({"type":"about:blank","status":500})");
    ASSERT_TRUE(p);
    EXPECT_EQ(p->describe(), "about:blank (HTTP 500)");
}

TEST(AcmeProblem, SubproblemsAreCappedAndNotNested) {
    std::string many = R"({"type":"urn:ietf:params:acme:error:malformed","subproblems":[)";
    for (int i = 0; i < 100; ++i)
        many += std::string(i ? "," : "") + R"({"type":"x","subproblems":[{"type":"nested"}]})";
    many += "]}";
    auto p = acme::parse_problem(many);
    ASSERT_TRUE(p);
    EXPECT_EQ(p->subproblems.size(), acme::max_subproblems);
    EXPECT_TRUE(p->subproblems[0].subproblems.empty());
}

TEST(AcmeRetryAfter, SecondsDatesAndGarbage) {
    auto now = std::chrono::system_clock::from_time_t(784111777); // Sun, 06 Nov 1994 08:49:37 GMT
    EXPECT_EQ(acme::parse_retry_after("120", now), 120s);
    EXPECT_EQ(acme::parse_retry_after(" 0 ", now), 0s);
    EXPECT_EQ(acme::parse_retry_after("Sun, 06 Nov 1994 08:51:37 GMT", now), 120s);
    EXPECT_EQ(acme::parse_retry_after("Sun, 06 Nov 1994 08:40:00 GMT", now), 0s);          // past
    EXPECT_EQ(acme::parse_retry_after("99999999999999", now), std::chrono::hours(24 * 7)); // capped
    EXPECT_FALSE(acme::parse_retry_after("", now));
    EXPECT_FALSE(acme::parse_retry_after("-5", now));
    EXPECT_FALSE(acme::parse_retry_after("soon", now));
    EXPECT_FALSE(acme::parse_retry_after("Sun, 06 Nov 1994 08:51:37 GMT trailing", now));
    // Dates outside what system_clock holds (years 1678-2261) were signed overflow in
    // from_time_t (the acme_json corpus under UBSan): now the past and a capped future.
    EXPECT_EQ(acme::parse_retry_after("Tue, 06 Nov 0014 08:51:37 GMT", now), 0s);
    EXPECT_EQ(acme::parse_retry_after("Fri, 31 Dec 9999 23:59:59 GMT", now),
              std::chrono::hours(24 * 7));
    EXPECT_LT(*acme::parse_rfc3339("0014-01-01T00:00:00Z"), now);
    EXPECT_GT(*acme::parse_rfc3339("9999-12-31T23:59:59Z"), now);
}

TEST(AcmeParse, Directory) {
    auto d = acme::parse_directory(R"({
        "keyChange": "https://ca.test/rollover-account-key",
        "meta": {"externalAccountRequired": false, "termsOfService": "data:text/plain,Do%20what%20thou%20wilt"},
        "newAccount": "https://ca.test/sign-me-up", "newNonce": "https://ca.test/nonce-plz",
        "newOrder": "https://ca.test/order-plz", "revokeCert": "https://ca.test/revoke-cert",
        "renewalInfo": "https://ca.test/draft-ietf-acme-ari-03/renewalInfo/"})");
    ASSERT_TRUE(d) << d.error();
    EXPECT_EQ(d->new_nonce, "https://ca.test/nonce-plz");
    EXPECT_EQ(d->renewal_info, "https://ca.test/draft-ietf-acme-ari-03/renewalInfo/");
    EXPECT_FALSE(d->external_account_required);
    auto missing = acme::parse_directory(R"({"newNonce":"n","newAccount":"a"})");
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error(), "directory has no newOrder");
    EXPECT_FALSE(acme::parse_directory("not json"));
    EXPECT_FALSE(acme::parse_directory(R"({"newNonce":1,"newAccount":"a","newOrder":"o"})"));
}

TEST(AcmeParse, OrderAndItsLimits) {
    auto o = acme::parse_order(R"({"status":"pending","expires":"2026-12-06T00:00:00Z",
        "identifiers":[{"type":"dns","value":"mx.example.org"}],
        "authorizations":["https://ca.test/authZ/1"],"finalize":"https://ca.test/finalize/1"})");
    ASSERT_TRUE(o) << o.error();
    EXPECT_EQ(o->state, acme::status::pending);
    EXPECT_EQ(o->identifiers[0].value, "mx.example.org");
    EXPECT_EQ(o->authorizations.size(), 1u);
    EXPECT_TRUE(o->certificate.empty());

    auto invalid = acme::parse_order(R"({"status":"invalid","finalize":"f",
        "error":{"type":"urn:ietf:params:acme:error:unauthorized","detail":"no"}})");
    ASSERT_TRUE(invalid);
    ASSERT_TRUE(invalid->error);
    EXPECT_EQ(invalid->error->short_type(), "unauthorized");

    std::string many = R"({"status":"pending","finalize":"f","authorizations":[)";
    for (std::size_t i = 0; i <= acme::max_list_items; ++i)
        many += std::string(i ? "," : "") + "\"u\"";
    many += "]}";
    EXPECT_FALSE(acme::parse_order(many));
    EXPECT_FALSE(acme::parse_order(R"({"status":"sideways","finalize":"f"})"));
    EXPECT_FALSE(acme::parse_order(R"({"status":"ready"})"));
    EXPECT_FALSE(
        acme::parse_order(R"({"status":"ready","finalize":"f","identifiers":[{"type":"dns"}]})"));
}

TEST(AcmeParse, AuthorizationKeepsUsableChallenges) {
    auto a = acme::parse_authorization(
        R"({"status":"pending","identifier":{"type":"dns","value":"example.org"},
        "wildcard":true,"challenges":[
          {"type":"dns-01","url":"https://ca.test/chalZ/1","token":"tok1","status":"pending"},
          {"type":"broken"},
          {"type":"http-01","url":"https://ca.test/chalZ/2","token":"tok2","status":"invalid",
           "error":{"type":"urn:ietf:params:acme:error:connection","detail":"refused"}}]})");
    ASSERT_TRUE(a) << a.error();
    EXPECT_TRUE(a->wildcard);
    EXPECT_EQ(a->id.value, "example.org");
    ASSERT_EQ(a->challenges.size(), 2u);
    EXPECT_EQ(a->challenges[0].token, "tok1");
    ASSERT_TRUE(a->challenges[1].error);
    EXPECT_EQ(a->challenges[1].error->detail, "refused");
    EXPECT_FALSE(acme::parse_authorization(R"({"status":"pending"})"));
    EXPECT_FALSE(acme::parse_authorization(R"({"status":"pending","identifier":"example.org"})"));
}

TEST(AcmeParse, AccountStatus) {
    EXPECT_EQ(acme::parse_account_status(R"({"status":"valid","contact":[]})").value(),
              acme::status::valid);
    EXPECT_EQ(acme::parse_account_status(R"({"status":"deactivated"})").value(),
              acme::status::deactivated);
    EXPECT_FALSE(acme::parse_account_status(R"({})"));
}

TEST(AcmeRenewalInfo, Rfc3339DateTimes) {
    const auto epoch = std::chrono::system_clock::from_time_t(0);
    auto t = acme::parse_rfc3339("2025-01-02T04:00:00Z");
    ASSERT_TRUE(t);
    EXPECT_EQ(*t - epoch, std::chrono::seconds(1735790400));
    EXPECT_EQ(acme::parse_rfc3339("2025-01-02T05:30:00.123456+01:30"), t);
    EXPECT_EQ(acme::parse_rfc3339("2025-01-02t02:00:00-02:00"), t);
    for (const char* bad : {"", "2025-01-02", "2025-01-02T04:00:00", "2025-01-02T04:00:00+1:00",
                            "2025-01-02T04:00:00Zjunk", "2025-01-02T04:00:00.Z",
                            "2025-01-02 04:00:00Z", "2025-01-02T04:00:00+24:00"})
        EXPECT_FALSE(acme::parse_rfc3339(bad)) << bad;
}

// RFC 9773 4.2's example object.
TEST(AcmeRenewalInfo, SuggestedWindowAndExplanation) {
    auto r = acme::parse_renewal_info(
        R"({"suggestedWindow":{"start":"2025-01-02T04:00:00Z","end":"2025-01-03T04:00:00Z"},
            "explanationURL":"https://acme.example.com/docs/ari"})");
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->end - r->start, std::chrono::hours(24));
    EXPECT_EQ(r->explanation_url, "https://acme.example.com/docs/ari");
    EXPECT_FALSE(acme::parse_renewal_info("[]"));
    EXPECT_FALSE(acme::parse_renewal_info(R"({"suggestedWindow":"soon"})"));
    EXPECT_FALSE(acme::parse_renewal_info(
        R"({"suggestedWindow":{"start":"2025-01-03T04:00:00Z","end":"2025-01-02T04:00:00Z"}})"))
        << "end before start";
    EXPECT_FALSE(acme::parse_renewal_info(
        R"({"suggestedWindow":{"start":"2025-01-02T04:00:00Z","end":"2025-01-02T04:00:00Z"}})"))
        << "empty window";
    EXPECT_FALSE(acme::parse_renewal_info(R"({"suggestedWindow":{"start":1,"end":2}})"));
}
