// provision/dns diff and apply: what is owned, what changes, the one bulk PATCH, throttling,
// per-item 400 errors and the confirmation, against a scripted deSEC transport.
#include "dns/apply.hpp"
#include "dns/diff.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sstream>

#include "unit/common/desec/scripted_transport.hpp"

namespace splitmail::provision::dns {
namespace {

using desec::rrset;

diff_options ttl(std::uint32_t seconds) {
    diff_options o;
    o.ttl = seconds;
    return o;
}

plan sample() {
    plan p;
    p.domain = "example.com";
    p.rrsets = {{"", "MX", 3600, {"10 mx.example.com."}},
                {"", "TXT", 3600, {"\"v=spf1 ip4:192.0.2.10 -all\""}},
                {"_dmarc", "TXT", 3600, {"\"v=DMARC1; p=none\""}},
                {"mx", "A", 3600, {"192.0.2.10"}}};
    return p;
}

TEST(DnsDiff, CreatesEverythingOnAnEmptyZone) {
    const std::vector<rrset> now{{"", "NS", 3600, {"ns1.desec.io.", "ns2.desec.org."}}};
    auto d = compute_diff(sample(), now, ttl(3600));
    ASSERT_EQ(d.size(), 4u);
    for (const auto& c : d) EXPECT_EQ(c.kind, change_kind::create);
    auto items = patch_items(d);
    ASSERT_EQ(items.size(), 4u);
    EXPECT_EQ(items[0], (rrset{"", "MX", 3600, {"10 mx.example.com."}}));
}

TEST(DnsDiff, NothingWhenEqualInAnyRecordOrder) {
    plan p = sample();
    p.rrsets[0].records = {"10 mx.example.com.", "20 mx2.example.com."};
    std::vector<rrset> now;
    for (const auto& r : p.rrsets) now.push_back(r);
    std::swap(now[0].records[0], now[0].records[1]);
    now.push_back({"www", "A", 60, {"192.0.2.99"}});
    EXPECT_TRUE(compute_diff(p, now, ttl(3600)).empty());
}

TEST(DnsDiff, UpdatesOnlyWhatDiffersAndShowsIt) {
    plan p = sample();
    std::vector<rrset> now(p.rrsets.begin(), p.rrsets.end());
    now[2].records = {"\"v=DMARC1; p=reject\""};
    now[3].ttl = 60;
    auto d = compute_diff(p, now, ttl(3600));
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0].kind, change_kind::update);
    EXPECT_EQ(d[0].after.subname, "_dmarc");
    EXPECT_EQ(d[1].after.subname, "mx");
    const std::string shown = render_diff(d, "example.com");
    EXPECT_NE(shown.find("~ _dmarc.example.com. TXT\n"), std::string::npos) << shown;
    EXPECT_NE(shown.find("- \"v=DMARC1; p=reject\""), std::string::npos) << shown;
    EXPECT_NE(shown.find("+ \"v=DMARC1; p=none\""), std::string::npos) << shown;
    EXPECT_NE(shown.find("TTL 60 -> 3600"), std::string::npos) << shown;
}

TEST(DnsDiff, TtlRaisedForEveryRrset) {
    plan p = sample();
    std::vector<rrset> now(p.rrsets.begin(), p.rrsets.end());
    auto d = compute_diff(p, now, ttl(7200));
    EXPECT_EQ(d.size(), 4u);
    for (const auto& c : patch_items(d)) EXPECT_EQ(c.ttl, 7200u);
}

TEST(DnsDiff, PruneRemovesOthersButNeverApexNsOrKept) {
    plan p = sample();
    std::vector<rrset> now(p.rrsets.begin(), p.rrsets.end());
    now.push_back({"", "NS", 3600, {"ns1.desec.io."}});
    now.push_back({"www", "A", 3600, {"192.0.2.99"}});
    now.push_back({"home", "AAAA", 60, {"2001:db8::1"}});
    now.push_back({"sub", "NS", 3600, {"ns.elsewhere.example."}});
    EXPECT_TRUE(compute_diff(p, now, ttl(3600)).empty()) << "without prune: untouched";
    diff_options o = ttl(3600);
    o.prune = true;
    o.keep = {{"home", "AAAA"}};
    auto d = compute_diff(p, now, o);
    ASSERT_EQ(d.size(), 2u);
    EXPECT_EQ(d[0].kind, change_kind::remove);
    EXPECT_EQ(d[0].before.subname, "sub");
    EXPECT_EQ(d[1].before.subname, "www");
    auto items = patch_items(d);
    EXPECT_EQ(items[1], (rrset{"www", "A", 0, {}}));
    EXPECT_NE(render_diff(d, "example.com").find("- www.example.com. 3600 A 192.0.2.99"),
              std::string::npos);
}

// ---- apply against a scripted transport ----------------------------------------------------

struct DnsApply : ::testing::Test {
    std::shared_ptr<desec::testing::scripted_transport> t =
        std::make_shared<desec::testing::scripted_transport>();
    desec::client api{
        desec::client_options{
            "https://api.test/api/v1", "s3cr3t-XYZ", {}, std::chrono::seconds(5), "t"},
        t};
    std::vector<plan> plans{sample()};
    std::vector<std::chrono::seconds> slept;
    apply_options o;
    std::ostringstream out, err;

    DnsApply() {
        o.yes = true;
        o.sleep = [this](std::chrono::seconds s) { slept.push_back(s); };
    }
    void domain(int minimum_ttl = 3600) {
        t->push(200, R"({"name":"example.com","minimum_ttl":)" + std::to_string(minimum_ttl) + "}");
    }
    void rrsets(const std::string& json) { t->push(200, json); }
    int run() { return apply_plans(api, plans, o, out, err); }
    std::vector<const desec::http_request*> writes() const {
        std::vector<const desec::http_request*> w;
        for (const auto& r : t->requests)
            if (r.method != "GET") w.push_back(&r);
        return w;
    }
};

TEST_F(DnsApply, OnePatchWithOnlyTheChangedRrsets) {
    domain();
    rrsets(R"([{"subname":"","type":"MX","ttl":3600,"records":["10 mx.example.com."]},
               {"subname":"","type":"NS","ttl":3600,"records":["ns1.desec.io."]}])");
    t->push(200, "[]");
    ASSERT_EQ(run(), 0) << err.str();
    auto w = writes();
    ASSERT_EQ(w.size(), 1u);
    EXPECT_EQ(w[0]->method, "PATCH");
    EXPECT_EQ(w[0]->url, "https://api.test/api/v1/domains/example.com/rrsets/");
    auto body = nlohmann::json::parse(w[0]->body);
    ASSERT_EQ(body.size(), 3u); // TXT apex, _dmarc, mx A; not the unchanged MX, not NS
    for (const auto& item : body) {
        EXPECT_NE(item["type"], "MX");
        EXPECT_NE(item["type"], "NS");
        EXPECT_EQ(item["ttl"], 3600);
    }
    EXPECT_NE(out.str().find("3 RRsets written in one request"), std::string::npos) << out.str();
}

TEST_F(DnsApply, WarnsWhenDeSecStoresARecordDifferently) {
    domain();
    rrsets(R"([{"subname":"","type":"MX","ttl":3600,"records":["10 mx.example.com."]},
               {"subname":"","type":"TXT","ttl":3600,"records":["\"v=spf1 ip4:192.0.2.10 -all\""]},
               {"subname":"_dmarc","type":"TXT","ttl":3600,"records":["\"v=DMARC1; p=none\""]}])");
    t->push(200, R"([{"subname":"mx","type":"A","ttl":3600,"records":["192.0.2.010"]}])");
    ASSERT_EQ(run(), 0) << err.str();
    EXPECT_NE(err.str().find("warning: deSEC stored mx.example.com. A in another form"),
              std::string::npos)
        << err.str();
}

TEST_F(DnsApply, UpToDateWritesNothingEvenWithoutYes) {
    o.yes = false; // nobody could confirm, but nothing needs confirming
    domain();
    rrsets(R"([{"subname":"","type":"MX","ttl":3600,"records":["10 mx.example.com."]},
               {"subname":"","type":"TXT","ttl":3600,"records":["\"v=spf1 ip4:192.0.2.10 -all\""]},
               {"subname":"_dmarc","type":"TXT","ttl":3600,"records":["\"v=DMARC1; p=none\""]},
               {"subname":"mx","type":"A","ttl":3600,"records":["192.0.2.10"]}])");
    EXPECT_EQ(run(), 0) << err.str();
    EXPECT_TRUE(writes().empty());
    EXPECT_NE(out.str().find("deSEC is up to date"), std::string::npos);
}

TEST_F(DnsApply, RefusesWithoutYesWhenNobodyCanConfirm) {
    o.yes = false;
    domain();
    rrsets("[]");
    EXPECT_EQ(run(), 1);
    EXPECT_TRUE(writes().empty());
    EXPECT_NE(err.str().find("--yes"), std::string::npos) << err.str();
    EXPECT_NE(out.str().find("+ example.com. 3600 MX 10 mx.example.com."), std::string::npos)
        << "the diff is shown before refusing:\n"
        << out.str();
}

TEST_F(DnsApply, AskedAndDeclinedWritesNothing) {
    o.yes = false;
    std::string asked;
    o.confirm = [&](const std::string& q) {
        asked = q;
        return false;
    };
    domain();
    rrsets("[]");
    EXPECT_EQ(run(), 1);
    EXPECT_FALSE(asked.empty());
    EXPECT_TRUE(writes().empty());
}

TEST_F(DnsApply, MinimumTtlRaisesTheTtl) {
    domain(86400);
    rrsets("[]");
    t->push(200, "[]");
    ASSERT_EQ(run(), 0) << err.str();
    auto body = nlohmann::json::parse(writes().at(0)->body);
    for (const auto& item : body) EXPECT_EQ(item["ttl"], 86400);
    EXPECT_NE(out.str().find("raised to deSEC's minimum_ttl 86400"), std::string::npos);
}

TEST_F(DnsApply, ThrottledWriteWaitsRetryAfterThenSucceeds) {
    domain();
    rrsets("[]");
    t->push(429, R"({"detail":"Request was throttled."})", {{"retry-after", "7"}});
    t->push(200, "[]");
    ASSERT_EQ(run(), 0) << err.str();
    ASSERT_EQ(slept.size(), 1u);
    EXPECT_EQ(slept[0], std::chrono::seconds(7));
    EXPECT_EQ(writes().size(), 2u);
    EXPECT_NE(err.str().find("retrying in 7 s"), std::string::npos) << err.str();
}

TEST_F(DnsApply, ThrottlingBeyondTheBudgetGivesUp) {
    o.max_wait = std::chrono::seconds(60);
    domain();
    rrsets("[]");
    t->push(429, R"({"detail":"Request was throttled."})", {{"retry-after", "3600"}});
    EXPECT_EQ(run(), 1);
    EXPECT_TRUE(slept.empty());
    EXPECT_NE(err.str().find("in 3600 s"), std::string::npos) << err.str();
}

TEST_F(DnsApply, ThrottledReadsAreRetriedBounded) {
    o.max_attempts = 3;
    for (int i = 0; i < 3; ++i)
        t->push(429, R"({"detail":"Request was throttled."})", {{"retry-after", "1"}});
    EXPECT_EQ(run(), 1);
    EXPECT_EQ(t->requests.size(), 3u);
    EXPECT_EQ(slept.size(), 2u);
}

TEST_F(DnsApply, BadRequestItemsAreNamed) {
    domain();
    rrsets("[]");
    t->push(400, R"([{}, {"records": ["TXT record content must be enclosed in double quotes"]},
                    {}, {}])");
    EXPECT_EQ(run(), 1);
    const std::string e = err.str();
    EXPECT_NE(e.find("deSEC refused the change"), std::string::npos) << e;
    // Items are sorted like the plan: MX, TXT(apex), _dmarc TXT, mx A.
    EXPECT_NE(e.find("example.com. TXT: records: TXT record content must be enclosed"),
              std::string::npos)
        << e;
    EXPECT_EQ(e.find("MX:"), std::string::npos) << e;
}

TEST_F(DnsApply, UnknownDomainAndBadToken) {
    t->push(404, R"({"detail":"Not found."})");
    EXPECT_EQ(run(), 1);
    EXPECT_NE(err.str().find("not a domain of this deSEC account"), std::string::npos);
    err.str("");
    o.token_file = "/etc/splitmail/desec.token";
    t->push(401, R"({"detail":"Invalid token."})");
    EXPECT_EQ(run(), 1);
    EXPECT_NE(err.str().find("/etc/splitmail/desec.token"), std::string::npos) << err.str();
    EXPECT_EQ(err.str().find("s3cr3t-XYZ"), std::string::npos) << "the secret must not show";
}

} // namespace
} // namespace splitmail::provision::dns
