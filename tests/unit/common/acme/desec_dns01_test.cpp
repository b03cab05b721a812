// dns-01 through deSEC against a scripted API: one bulk PATCH for the whole order (apex and
// wildcard values in one RRset), TTL at minimum_ttl, waiting for visibility, removal after.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "splitmail/acme/desec_dns01.hpp"
#include "unit/common/desec/scripted_transport.hpp"

namespace acme = splitmail::acme;
namespace desec = splitmail::desec;
using desec::testing::scripted_transport;
using namespace std::chrono_literals;

namespace {

acme::challenge_task task(std::string domain, bool wildcard, std::string txt) {
    acme::challenge_task t;
    t.domain = std::move(domain);
    t.wildcard = wildcard;
    t.type = "dns-01";
    t.txt_value = std::move(txt);
    return t;
}

struct fixture {
    std::shared_ptr<scripted_transport> api = std::make_shared<scripted_transport>();
    desec::client client{desec::client_options{"https://api.test/api/v1", "s3cret", {}, 5s, "t"},
                         api};
    std::vector<std::pair<std::string, std::vector<std::string>>> checks;
    std::vector<std::chrono::seconds> sleeps;
    int invisible_rounds = 0;

    acme::desec_dns01_solver solver() {
        acme::desec_dns01_solver::options o;
        o.zone = "example.org";
        o.check_interval = 5s;
        o.propagation_timeout = 20s;
        o.sleep = [this](std::chrono::seconds s) { sleeps.push_back(s); };
        return acme::desec_dns01_solver(
            client,
            [this](const std::string& fqdn,
                   const std::vector<std::string>& v) -> acme::result<bool> {
                checks.emplace_back(fqdn, v);
                return invisible_rounds-- <= 0;
            },
            o);
    }
};

} // namespace

TEST(AcmeDesecDns01, RrsetsGroupValuesPerName) {
    std::vector<acme::challenge_task> tasks{task("example.org", false, "A"),
                                            task("example.org", true, "B"),
                                            task("Mx.Example.org", false, "C")};
    auto sets = acme::challenge_rrsets("example.org", tasks, 3600);
    ASSERT_TRUE(sets);
    ASSERT_EQ(sets->size(), 2u);
    EXPECT_EQ((*sets)[0], (desec::rrset{"_acme-challenge", "TXT", 3600, {"\"A\"", "\"B\""}}));
    EXPECT_EQ((*sets)[1], (desec::rrset{"_acme-challenge.mx", "TXT", 3600, {"\"C\""}}));
    std::vector<acme::challenge_task> outside{task("example.net", false, "A")};
    auto e = acme::challenge_rrsets("example.org", outside, 3600);
    ASSERT_FALSE(e);
    EXPECT_EQ(e.error().message, "example.net is not in the deSEC domain example.org");
    std::vector<acme::challenge_task> suffix{task("badexample.org", false, "A")};
    EXPECT_FALSE(acme::challenge_rrsets("example.org", suffix, 3600));
}

TEST(AcmeDesecDns01, OneBulkWriteAtMinimumTtlThenWaitThenRemove) {
    fixture f;
    f.invisible_rounds = 2;
    auto s = f.solver();
    f.api->push(200, R"({"name":"example.org","minimum_ttl":3600})");
    f.api->push(
        200,
        R"([{"subname":"_acme-challenge","type":"TXT","ttl":3600,"records":["\"A\"","\"B\""]}])");
    std::vector<acme::challenge_task> tasks{task("example.org", false, "A"),
                                            task("example.org", true, "B")};
    ASSERT_TRUE(s.present(tasks));
    ASSERT_EQ(f.api->requests.size(), 2u);
    const auto& write = f.api->requests[1];
    EXPECT_EQ(write.method, "PATCH");
    EXPECT_EQ(write.url, "https://api.test/api/v1/domains/example.org/rrsets/");
    auto body = nlohmann::json::parse(write.body);
    ASSERT_EQ(body.size(), 1u);
    EXPECT_EQ(body[0]["subname"], "_acme-challenge");
    EXPECT_EQ(body[0]["ttl"], 3600);
    EXPECT_EQ(body[0]["records"], nlohmann::json::array({"\"A\"", "\"B\""}));
    ASSERT_EQ(f.checks.size(), 3u);
    EXPECT_EQ(f.checks[0].first, "_acme-challenge.example.org");
    EXPECT_EQ(f.checks[0].second, (std::vector<std::string>{"A", "B"}));
    EXPECT_EQ(f.sleeps, (std::vector<std::chrono::seconds>{5s, 5s}));

    f.api->push(200, "[]");
    s.cleanup(tasks);
    EXPECT_EQ(s.cleanup_error(), "");
    ASSERT_EQ(f.api->requests.size(), 3u);
    auto del = nlohmann::json::parse(f.api->requests[2].body);
    EXPECT_EQ(del[0]["subname"], "_acme-challenge");
    EXPECT_TRUE(del[0]["records"].empty());
}

TEST(AcmeDesecDns01, NeverVisibleTimesOut) {
    fixture f;
    f.invisible_rounds = 1000;
    auto s = f.solver();
    f.api->push(200, R"({"name":"example.org","minimum_ttl":60})");
    f.api->push(200, "[]");
    std::vector<acme::challenge_task> tasks{task("mx.example.org", false, "A")};
    auto r = s.present(tasks);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().message, "the authoritative servers still do not answer the TXT record at "
                                 "_acme-challenge.mx.example.org after 20s");
    EXPECT_EQ(f.checks.size(), 5u); // bounded: 0, 5, 10, 15, 20 s
}

TEST(AcmeDesecDns01, ForbiddenTokenSaysWhichPolicyIsNeeded) {
    fixture f;
    auto s = f.solver();
    f.api->push(200, R"({"name":"example.org","minimum_ttl":60})");
    f.api->push(403, R"({"detail":"Insufficient token permissions."})");
    std::vector<acme::challenge_task> tasks{task("mx.example.org", false, "A")};
    auto r = s.present(tasks);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, acme::error_kind::solver);
    EXPECT_NE(r.error().message.find("_acme-challenge names"), std::string::npos)
        << r.error().message;
    EXPECT_TRUE(f.checks.empty());
}

// deSEC's throttling (429 + Retry-After) is waited out and the call made again, as its
// documentation asks; past two minutes of waiting the 429 is the error.
TEST(AcmeDesecDns01, ThrottledCallsWaitRetryAfterAndTryAgain) {
    fixture f;
    auto s = f.solver();
    const std::string throttled =
        R"({"detail":"Request was throttled. Expected available in 1 second."})";
    f.api->push(429, throttled, {{"retry-after", "1"}});
    f.api->push(200, R"({"name":"example.org","minimum_ttl":60})");
    f.api->push(429, throttled, {{"retry-after", "3"}});
    f.api->push(200, "[]");
    std::vector<acme::challenge_task> tasks{task("mx.example.org", false, "A")};
    auto r = s.present(tasks);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(f.sleeps, (std::vector<std::chrono::seconds>{1s, 3s}))
        << "each wait is the server's Retry-After";
    f.api->push(429, throttled, {{"retry-after", "2"}});
    f.api->push(200, "[]");
    s.cleanup(tasks);
    EXPECT_EQ(s.cleanup_error(), "");
    EXPECT_EQ(f.sleeps.back(), 2s);
    // A throttle longer than the budget is reported, not slept through.
    fixture g;
    auto t = g.solver();
    g.api->push(429, throttled, {{"retry-after", "3600"}});
    auto e = t.present(tasks);
    ASSERT_FALSE(e);
    EXPECT_NE(e.error().message.find("throttled"), std::string::npos) << e.error().message;
    EXPECT_TRUE(g.sleeps.empty());
}
