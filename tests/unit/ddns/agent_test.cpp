#include "agent.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "exit_codes.hpp"
#include "unit/common/desec/scripted_transport.hpp"

namespace splitmail::ddns {
namespace {

using namespace std::chrono_literals;
using desec::http_request;
using desec::http_response;
using status = cycle_result::status;

// A tiny in-memory deSEC behind the scripted transport; failures are queued with push().
struct mini_desec {
    std::map<std::pair<std::string, std::string>, std::vector<std::string>> rrsets;
    int patches = 0;
    std::vector<nlohmann::json> patch_bodies;

    std::expected<http_response, desec::error> operator()(const http_request& r) {
        http_response out;
        out.status = 200;
        if (r.method == "GET" && r.url.ends_with("/domains/home.example/")) {
            out.body = R"({"name":"home.example","minimum_ttl":60})";
        } else if (r.method == "GET") {
            std::string type = r.url.substr(r.url.find("type=") + 5);
            nlohmann::json arr = nlohmann::json::array();
            for (auto& [k, v] : rrsets)
                if (k.second == type)
                    arr.push_back(
                        {{"subname", k.first}, {"type", k.second}, {"ttl", 60}, {"records", v}});
            out.body = arr.dump();
        } else if (r.method == "PATCH") {
            ++patches;
            auto body = nlohmann::json::parse(r.body);
            patch_bodies.push_back(body);
            for (auto& it : body) rrsets[{it["subname"], it["type"]}] = it["records"];
            out.body = body.dump();
        }
        return out;
    }
};

struct fake_detector : ip_detector {
    std::map<family, std::expected<ip_address, detect_error>> answers;
    int calls = 0;
    std::expected<ip_address, detect_error> detect(family f) override {
        ++calls;
        return answers.at(f);
    }
    void set(family f, const char* ip) { answers.insert_or_assign(f, *parse_ip(ip)); }
};

struct DdnsAgentTest : ::testing::Test {
    settings s;
    std::shared_ptr<desec::testing::scripted_transport> t =
        std::make_shared<desec::testing::scripted_transport>();
    mini_desec server;
    desec::client api{desec::client_options{"https://api.test/api/v1/", "tok", {}, 5s, "t"}, t};
    fake_detector det;
    state st;
    int persisted = 0;
    std::unique_ptr<agent> a;
    time_point now = time_point(std::chrono::hours(24 * 365 * 50));

    void SetUp() override {
        s.domain = "home.example";
        s.subnames = {"", "mail"};
        s.interval = 60s;
        s.retry_initial = 10s;
        s.retry_max = 600s;
        s.token_file = "/etc/splitmail/desec.token";
        s.sources.v4 = *parse_ip_source("url:https://ip.test/4");
        s.sources.v6 = *parse_ip_source("url:https://ip.test/6");
        t->fallback = [this](const http_request& r) { return server(r); };
        det.set(family::v4, "81.2.69.160");
        det.set(family::v6, "2a01:4f8::1");
    }
    void make(bool dry_run = false) {
        a = std::make_unique<agent>(
            s, api, det, st, [this](const state&) { ++persisted; }, [] { return 0.0; }, dry_run);
    }
    cycle_result cycle(std::chrono::seconds advance = 60s) {
        now += advance;
        return a->run_cycle(now);
    }
};

TEST_F(DdnsAgentTest, FirstCycleOneBulkPatchThenNothing) {
    make();
    auto r = cycle();
    EXPECT_EQ(r.st, status::updated);
    EXPECT_EQ(r.next, 60s);
    ASSERT_EQ(server.patches, 1);
    EXPECT_EQ(server.patch_bodies[0].size(), 4u); // 2 names x 2 families in one request
    EXPECT_EQ(a->ttl(), 60u);
    for (int i = 0; i < 50; ++i) ASSERT_EQ(cycle().st, status::unchanged);
    EXPECT_EQ(server.patches, 1);
    EXPECT_EQ(st.published.at("mail/A"), std::vector<std::string>{"81.2.69.160"});
}

TEST_F(DdnsAgentTest, ComparesAddressesNotText) {
    server.rrsets[{"", "AAAA"}] = {"2A01:04F8:0::1"};
    server.rrsets[{"", "A"}] = {"81.2.69.160"};
    s.subnames = {""};
    make();
    EXPECT_EQ(cycle().st, status::unchanged);
    EXPECT_EQ(server.patches, 0);
    // What deSEC already has counts as published (the state `splitmail check` compares DNS with),
    // saved once, not every cycle.
    EXPECT_EQ(st.published.at("/A"), std::vector<std::string>{"81.2.69.160"});
    EXPECT_EQ(st.published.at("/AAAA"), std::vector<std::string>{"2A01:04F8:0::1"});
    EXPECT_EQ(persisted, 1);
    EXPECT_EQ(cycle().st, status::unchanged);
    EXPECT_EQ(persisted, 1);
}

TEST_F(DdnsAgentTest, Ipv4ChangeWritesOnlyA) {
    make();
    cycle();
    det.set(family::v4, "81.2.69.161");
    EXPECT_EQ(cycle().st, status::updated);
    ASSERT_EQ(server.patches, 2);
    for (auto& it : server.patch_bodies[1]) EXPECT_EQ(it["type"], "A");
    EXPECT_EQ(server.patch_bodies[1].size(), 2u);
}

TEST_F(DdnsAgentTest, RestartWithSameAddressDoesNotWrite) {
    make();
    cycle();
    state saved = st;
    // A new process: new agent, state from "disk", records read again.
    st = saved;
    make();
    EXPECT_EQ(cycle().st, status::unchanged);
    EXPECT_EQ(server.patches, 1);
}

TEST_F(DdnsAgentTest, ThrottleSetsNotBeforeAndIsObeyed) {
    make();
    t->push([this](const http_request& r) { return server(r); }); // domain
    t->push([this](const http_request& r) { return server(r); }); // A
    t->push([this](const http_request& r) { return server(r); }); // AAAA
    t->push(429, R"({"detail":"Request was throttled."})", {{"retry-after", "30"}});
    auto r = cycle();
    EXPECT_EQ(r.st, status::postponed);
    EXPECT_EQ(r.next, 30s);
    ASSERT_TRUE(st.not_before);
    auto requests = t->requests.size();
    EXPECT_EQ(a->run_cycle(now + 29s).st, status::postponed);
    EXPECT_EQ(t->requests.size(), requests); // nothing sent before Retry-After has passed
    EXPECT_EQ(a->run_cycle(now + 30s).st, status::updated);
    EXPECT_FALSE(st.not_before);
}

TEST_F(DdnsAgentTest, ServerErrorBacksOffAndRereads) {
    make();
    cycle();
    det.set(family::v4, "81.2.69.161");
    t->push(503, "busy");
    auto r = cycle();
    EXPECT_EQ(r.st, status::transient);
    EXPECT_EQ(r.next, 5s); // equal jitter with random 0: half of retry_initial
    t->push(502, "busy");
    auto gets_before = t->requests.size();
    r = cycle(5s);
    EXPECT_EQ(r.st, status::transient);
    // The failed PATCH made the remote view unknown: the RRsets were read again first.
    EXPECT_EQ(t->requests[gets_before].method, "GET");
    EXPECT_EQ(r.next, 10s);
    // The failure is in the state for `splitmail check`, until a request succeeds.
    EXPECT_NE(st.last_error.find("failed:"), std::string::npos) << st.last_error;
    EXPECT_NE(st.last_error_at, time_point{});
    EXPECT_EQ(cycle(10s).st, status::updated);
    EXPECT_EQ(st.last_error, "");
    EXPECT_EQ(cycle().st, status::unchanged);
}

TEST_F(DdnsAgentTest, AuthErrorsAreFatalWithDistinctCodes) {
    struct c {
        int http;
        int code;
        const char* words;
    };
    for (auto [http, code, words] :
         {c{401, exit_code::bad_token, "rejected the API token"},
          c{403, exit_code::forbidden, "not allowed"},
          c{404, exit_code::unknown_domain, "does not know the domain"}}) {
        t->push(http, R"({"detail":"x"})");
        st = state{};
        make();
        auto r = cycle();
        EXPECT_EQ(r.st, status::fatal);
        EXPECT_EQ(r.exit_code, code);
        EXPECT_NE(r.message.find(words), std::string::npos) << r.message;
        EXPECT_NE(r.message.find("/etc/splitmail/desec.token"), std::string::npos);
        EXPECT_EQ(st.last_error, r.message); // what `splitmail check` shows
    }
}

TEST_F(DdnsAgentTest, RefusedAddressIsNeverWrittenOtherFamilyIs) {
    det.answers.insert_or_assign(
        family::v4, std::unexpected(detect_error{detect_error::kind::refused, "CGNAT"}));
    make();
    auto r = cycle();
    EXPECT_EQ(r.st, status::updated);
    EXPECT_TRUE(r.refused);
    for (auto& it : server.patch_bodies.at(0)) EXPECT_EQ(it["type"], "AAAA");
}

TEST_F(DdnsAgentTest, DryRunNeverWrites) {
    make(true);
    EXPECT_EQ(cycle().st, status::would_update);
    EXPECT_EQ(server.patches, 0);
}

TEST_F(DdnsAgentTest, WriteLimiterHoldsBackWhenHistoryIsFull) {
    // 15 writes in the last minute (from the state file of an earlier run).
    for (int i = 0; i < 15; ++i) st.writes.push_back(now + 60s - std::chrono::seconds(30 - i));
    st.domain = "home.example";
    make();
    auto r = cycle();
    EXPECT_EQ(r.st, status::postponed);
    EXPECT_GT(r.next, 0ms);
    EXPECT_EQ(server.patches, 0);
}

TEST_F(DdnsAgentTest, FlappingIsDamped) {
    s.damping_half_life = 3600s;
    make();
    int updated = 0;
    for (int i = 0; i < 20; ++i) {
        det.set(family::v4, i % 2 ? "81.2.69.161" : "81.2.69.160");
        if (cycle(61s).st == status::updated) ++updated;
    }
    EXPECT_EQ(updated, 4);
    EXPECT_EQ(server.patches, 4);
}

} // namespace
} // namespace splitmail::ddns
