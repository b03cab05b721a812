#include "splitmail/desec/client.hpp"

#include <gtest/gtest.h>

#include "unit/common/desec/scripted_transport.hpp"

namespace splitmail::desec {
namespace {

using testing::scripted_transport;

struct DesecClientTest : ::testing::Test {
    std::shared_ptr<scripted_transport> t = std::make_shared<scripted_transport>();
    client c{client_options{"https://api.test/api/v1", "s3cret", {}, std::chrono::seconds(5), "t"},
             t};
};

TEST_F(DesecClientTest, SendsTokenAndBuildsUrls) {
    t->push(200, R"({"name":"ex.test","minimum_ttl":3600})");
    auto d = c.get_domain("ex.test");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->minimum_ttl, 3600u);
    ASSERT_EQ(t->requests.size(), 1u);
    EXPECT_EQ(t->requests[0].method, "GET");
    EXPECT_EQ(t->requests[0].url, "https://api.test/api/v1/domains/ex.test/");
    bool auth = false;
    for (auto& [k, v] : t->requests[0].headers)
        auth = auth || (k == "Authorization" && v == "Token s3cret");
    EXPECT_TRUE(auth);
}

TEST_F(DesecClientTest, ListFollowsCursorPagesWithFilters) {
    t->push(
        200, R"([{"subname":"a","type":"A","ttl":60,"records":["81.2.69.1"]}])",
        {{"link",
          R"(<https://api.test/api/v1/domains/ex.test/rrsets/?cursor=>; rel="first", )"
          R"(<https://api.test/api/v1/domains/ex.test/rrsets/?cursor=abc&type=A>; rel="next")"}});
    t->push(
        200, R"([{"subname":"b","type":"A","ttl":60,"records":["81.2.69.2"]}])",
        {{"link", R"(<https://api.test/api/v1/domains/ex.test/rrsets/?cursor=>; rel="first")"}});
    auto l = c.list_rrsets("ex.test", rrset_filter{std::nullopt, "A"});
    ASSERT_TRUE(l) << l.error().message;
    ASSERT_EQ(l->size(), 2u);
    EXPECT_EQ((*l)[1].subname, "b");
    ASSERT_EQ(t->requests.size(), 2u);
    EXPECT_EQ(t->requests[0].url, "https://api.test/api/v1/domains/ex.test/rrsets/?cursor=&type=A");
    EXPECT_EQ(t->requests[1].url,
              "https://api.test/api/v1/domains/ex.test/rrsets/?cursor=abc&type=A");
}

TEST_F(DesecClientTest, RefusesPaginationLinkToAnotherHost) {
    t->push(200, "[]", {{"link", R"(<https://evil.test/api/v1/x?cursor=1>; rel="next")"}});
    auto l = c.list_rrsets("ex.test");
    ASSERT_FALSE(l);
    EXPECT_EQ(l.error().kind, error_kind::protocol);
    EXPECT_EQ(t->requests.size(), 1u); // the token never went to evil.test
}

TEST_F(DesecClientTest, ApexSubnameFilterAndSingleRrsetAt) {
    t->push(200, "[]");
    ASSERT_TRUE(c.list_rrsets("ex.test", rrset_filter{"", std::nullopt}));
    EXPECT_EQ(t->requests[0].url,
              "https://api.test/api/v1/domains/ex.test/rrsets/?cursor=&subname=");
    t->push(404, R"({"detail":"Not found."})");
    auto r = c.get_rrset("ex.test", "", "A");
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, error_kind::not_found);
    EXPECT_EQ(t->requests[1].url, "https://api.test/api/v1/domains/ex.test/rrsets/@/A/");
}

TEST_F(DesecClientTest, BulkPatchBodyAndAnswer) {
    t->push(200, R"([{"subname":"","type":"A","ttl":60,"records":["81.2.69.160"]}])");
    std::vector<rrset> items{{"", "A", 60, {"81.2.69.160"}}, {"old", "AAAA", 0, {}}};
    auto r = c.patch_rrsets("ex.test", items);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->size(), 1u);
    EXPECT_EQ(t->requests[0].method, "PATCH");
    EXPECT_EQ(t->requests[0].url, "https://api.test/api/v1/domains/ex.test/rrsets/");
    EXPECT_NE(t->requests[0].body.find(R"("records":[],"subname":"old")"), std::string::npos);
    t->push(201, "[]");
    ASSERT_TRUE(c.post_rrsets("ex.test", items));
    EXPECT_EQ(t->requests[1].method, "POST");
    t->push(200, "");
    ASSERT_TRUE(c.put_rrsets("ex.test", items));
    EXPECT_EQ(t->requests[2].method, "PUT");
}

TEST_F(DesecClientTest, ErrorsAreValues) {
    t->push(429, R"({"detail":"throttled"})", {{"retry-after", "42"}});
    auto r = c.patch_rrsets("ex.test", std::vector<rrset>{{"", "A", 60, {"81.2.69.1"}}});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, error_kind::throttled);
    EXPECT_EQ(r.error().retry_after->count(), 42);
    t->push(400, R"([{"records":["bad"]},{}])");
    r = c.patch_rrsets("ex.test",
                       std::vector<rrset>{{"", "A", 60, {"x"}}, {"", "AAAA", 60, {"::1"}}});
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().item_errors, (std::vector<std::string>{"records: bad", ""}));
    t->push_error(error_kind::network, "connection refused");
    auto d = c.get_domain("ex.test");
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().kind, error_kind::network);
    t->push(200, "not json");
    d = c.get_domain("ex.test");
    ASSERT_FALSE(d);
    EXPECT_EQ(d.error().kind, error_kind::protocol);
    for (const auto& req : t->requests) EXPECT_EQ(req.url.find("s3cret"), std::string::npos);
}

TEST(DesecUrl, Encode) {
    EXPECT_EQ(url_encode("a-b_c.d~e"), "a-b_c.d~e");
    EXPECT_EQ(url_encode("a b&c=/"), "a%20b%26c%3D%2F");
}

TEST(DesecCurl, RefusesPlainHttp) {
    auto tr = make_curl_transport({});
    http_request r;
    r.url = "http://127.0.0.1:1/";
    auto res = tr->perform(r);
    ASSERT_FALSE(res);
    EXPECT_EQ(res.error().kind, error_kind::protocol);
}

} // namespace
} // namespace splitmail::desec
