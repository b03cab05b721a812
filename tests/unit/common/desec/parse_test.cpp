#include "splitmail/desec/parse.hpp"

#include <gtest/gtest.h>

namespace splitmail::desec {
namespace {

TEST(DesecParse, RrsetListFromDocumentationExample) {
    auto r = parse_rrset_list(R"([{"created":"2019-09-18T16:32:16.510368Z","domain":"example.com",
        "subname":"www","name":"www.example.com.","type":"A","records":["127.0.0.1","127.0.0.2"],
        "ttl":3600,"touched":"2020-04-06T09:24:09.987436Z","future_field":{"x":1}}])");
    ASSERT_TRUE(r) << r.error();
    ASSERT_EQ(r->size(), 1u);
    EXPECT_EQ((*r)[0], (rrset{"www", "A", 3600, {"127.0.0.1", "127.0.0.2"}}));
}

TEST(DesecParse, RrsetRejectsWrongShapes) {
    EXPECT_FALSE(parse_rrset_list("{}"));
    EXPECT_FALSE(parse_rrset_list("[1]"));
    EXPECT_FALSE(parse_rrset_list(R"([{"type":"A","records":[1]}])"));
    EXPECT_FALSE(parse_rrset_list(R"([{"type":"A","records":["1.2.3.4"],"ttl":-5}])"));
    EXPECT_FALSE(parse_rrset_list(R"([{"type":"A","records":["1.2.3.4"],"ttl":99999999999}])"));
    EXPECT_FALSE(parse_rrset_list(R"([{"records":["1.2.3.4"]}])"));
    EXPECT_FALSE(parse_rrset_list("[{\"type\":\"A\""));
    EXPECT_FALSE(parse_rrset(""));
    auto apex = parse_rrset(R"({"type":"A","records":[],"subname":null})");
    ASSERT_TRUE(apex);
    EXPECT_EQ(apex->subname, "");
}

TEST(DesecParse, DomainNeedsMinimumTtl) {
    auto d = parse_domain(R"({"name":"example.dedyn.io","minimum_ttl":60,"created":"x"})");
    ASSERT_TRUE(d) << d.error();
    EXPECT_EQ(d->name, "example.dedyn.io");
    EXPECT_EQ(d->minimum_ttl, 60u);
    EXPECT_FALSE(parse_domain(R"({"name":"example.dedyn.io"})"));
    EXPECT_FALSE(parse_domain(R"({"name":"x","minimum_ttl":"60"})"));
    auto list = parse_domain_list(R"([{"name":"a.example","minimum_ttl":3600}])");
    ASSERT_TRUE(list);
    EXPECT_EQ(list->size(), 1u);
}

TEST(DesecParse, BulkErrorListKeepsRequestOrder) {
    auto e = parse_error_response(
        400, R"([{}, {"ttl":["Ensure this value is greater than or equal to 3600."]}, {}])", "");
    EXPECT_EQ(e.kind, error_kind::bad_request);
    ASSERT_EQ(e.item_errors.size(), 3u);
    EXPECT_EQ(e.item_errors[0], "");
    EXPECT_EQ(e.item_errors[1], "ttl: Ensure this value is greater than or equal to 3600.");
    EXPECT_EQ(e.item_errors[2], "");
    EXPECT_NE(e.message.find("item 2: ttl:"), std::string::npos) << e.message;
}

TEST(DesecParse, StatusKindsAndDetail) {
    auto e401 = parse_error_response(401, R"({"detail":"Invalid token."})", "");
    EXPECT_EQ(e401.kind, error_kind::unauthorized);
    EXPECT_EQ(e401.message, "HTTP 401: Invalid token.");
    EXPECT_FALSE(e401.retryable());
    EXPECT_EQ(parse_error_response(403, "{}", "").kind, error_kind::forbidden);
    EXPECT_EQ(parse_error_response(404, R"({"detail":"Not found."})", "").kind,
              error_kind::not_found);
    auto e503 = parse_error_response(503, "<html>\n\x01oops</html>", "");
    EXPECT_EQ(e503.kind, error_kind::server);
    EXPECT_TRUE(e503.retryable());
    EXPECT_EQ(e503.message.find('\n'), std::string::npos);
    EXPECT_EQ(e503.message.find('\x01'), std::string::npos);
    EXPECT_EQ(parse_error_response(302, "", "").kind, error_kind::protocol);
    auto single =
        parse_error_response(400, R"({"records":["bad A"],"non_field_errors":["dup"]})", "");
    EXPECT_TRUE(single.item_errors.empty());
    EXPECT_NE(single.message.find("records: bad A"), std::string::npos);
    EXPECT_NE(single.message.find("dup"), std::string::npos);
}

TEST(DesecParse, ThrottleCarriesRetryAfter) {
    auto e = parse_error_response(429, R"({"detail":"Request was throttled."})", " 17 ");
    EXPECT_EQ(e.kind, error_kind::throttled);
    ASSERT_TRUE(e.retry_after);
    EXPECT_EQ(e.retry_after->count(), 17);
    EXPECT_TRUE(e.retryable());
}

TEST(DesecParse, RetryAfter) {
    EXPECT_EQ(parse_retry_after("0")->count(), 0);
    EXPECT_EQ(parse_retry_after("120")->count(), 120);
    EXPECT_FALSE(parse_retry_after(""));
    EXPECT_FALSE(parse_retry_after("-1"));
    EXPECT_FALSE(parse_retry_after("1.5"));
    EXPECT_FALSE(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"));
    EXPECT_EQ(parse_retry_after("99999999999999999999999")->count(), 999'999'999);
}

TEST(DesecParse, LinkNext) {
    std::string h = R"(<https://desec.io/api/v1/domains/x/rrsets/?cursor=>; rel="first", )"
                    R"(<https://desec.io/api/v1/domains/x/rrsets/?cursor=p1>; rel="prev", )"
                    R"(<https://desec.io/api/v1/domains/x/rrsets/?cursor=n2>; rel="next")";
    EXPECT_EQ(parse_link_next(h), "https://desec.io/api/v1/domains/x/rrsets/?cursor=n2");
    EXPECT_FALSE(parse_link_next(R"(<https://a/?cursor=>; rel="first")"));
    EXPECT_EQ(parse_link_next(R"(<https://a/,b>; title="x, y"; rel=NEXT)"), "https://a/,b");
    EXPECT_EQ(parse_link_next(R"(<https://a/>; rel="prev next")"), "https://a/");
    EXPECT_FALSE(parse_link_next("garbage"));
    EXPECT_FALSE(parse_link_next("<unterminated; rel=next"));
    EXPECT_FALSE(parse_link_next(""));
}

TEST(DesecParse, SerializeOmitsZeroTtlAndUsesEmptyApex) {
    std::vector<rrset> items{{"", "A", 60, {"81.2.69.160"}}, {"www", "AAAA", 0, {}}};
    EXPECT_EQ(serialize_rrsets(items),
              R"([{"records":["81.2.69.160"],"subname":"","ttl":60,"type":"A"},)"
              R"({"records":[],"subname":"www","type":"AAAA"}])");
}

} // namespace
} // namespace splitmail::desec
