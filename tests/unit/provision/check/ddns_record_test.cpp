// Unit tests of the "ddns" check's pure half (provision/check/ddns_record.hpp, issue 16 bug 7):
// the resolver's answer for a name splitmail-ddns keeps current against what the agent last
// published (its state), for every outcome: match (also in another IPv6 spelling), another
// address, no answer, nothing published yet, one family never published, a state of another
// domain, an unreadable state, and the agent's last error and a pending Retry-After named in the
// detail.
#include "check/ddns_record.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace splitmail::provision::check;
using splitmail::ddns::state;

namespace {

constexpr std::time_t now = 1'800'000'000;

state published(std::vector<std::pair<std::string, std::string>> records) {
    state s;
    s.domain = "example.test";
    for (auto& [key, value] : records) s.published[key] = {value};
    return s;
}

ddns_record_input input(rr_type t, std::vector<std::string> answer, const state* st,
                        dns_status status = dns_status::answer) {
    ddns_record_input in;
    in.domain = "example.test";
    in.subname = "home";
    in.type = t;
    in.answer.status = answer.empty() && status == dns_status::answer ? dns_status::nodata : status;
    in.answer.records = std::move(answer);
    in.state = st;
    in.state_file = "/var/lib/splitmail-ddns/state.json";
    in.config = "/etc/splitmail/ddns.toml";
    in.now = now;
    return in;
}

bool has(const std::string& text, const std::string& part) {
    return text.find(part) != std::string::npos;
}

} // namespace

TEST(DdnsRecord, MatchIsOk) {
    auto st = published({{"home/A", "203.0.113.7"}});
    auto f = judge_ddns_record(input(rr_type::a, {"203.0.113.7"}, &st));
    EXPECT_EQ(f.state, status::ok) << f.detail;
    EXPECT_EQ(f.check, "ddns");
    EXPECT_EQ(f.detail, "A home.example.test is 203.0.113.7, as splitmail-ddns last published");
    EXPECT_TRUE(f.fix.empty());
}

TEST(DdnsRecord, Ipv6ComparedAsAddresses) {
    auto st = published({{"home/AAAA", "2001:db8::7"}});
    auto f = judge_ddns_record(input(rr_type::aaaa, {"2001:0db8:0:0::7"}, &st));
    EXPECT_EQ(f.state, status::ok) << f.detail;
}

TEST(DdnsRecord, ApexUsesTheDomain) {
    auto st = published({{"/A", "203.0.113.7"}});
    auto in = input(rr_type::a, {"203.0.113.7"}, &st);
    in.subname = "";
    auto f = judge_ddns_record(in);
    EXPECT_EQ(f.state, status::ok) << f.detail;
    EXPECT_TRUE(has(f.detail, "A example.test is")) << f.detail;
}

TEST(DdnsRecord, OtherAddressFailsWithFix) {
    auto st = published({{"home/A", "203.0.113.7"}});
    auto f = judge_ddns_record(input(rr_type::a, {"198.51.100.9"}, &st));
    EXPECT_EQ(f.state, status::fail);
    EXPECT_TRUE(has(f.detail, "A home.example.test resolves to 198.51.100.9, but "
                              "splitmail-ddns last published 203.0.113.7"))
        << f.detail;
    EXPECT_TRUE(has(f.fix, "journalctl -u splitmail-ddns")) << f.fix;
    EXPECT_TRUE(has(f.fix, "TTL")) << f.fix;
}

TEST(DdnsRecord, ExtraAddressFails) {
    auto st = published({{"home/A", "203.0.113.7"}});
    auto f = judge_ddns_record(input(rr_type::a, {"203.0.113.7", "198.51.100.9"}, &st));
    EXPECT_EQ(f.state, status::fail) << f.detail;
}

TEST(DdnsRecord, NoAnswerFails) {
    auto st = published({{"home/A", "203.0.113.7"}});
    auto f = judge_ddns_record(input(rr_type::a, {}, &st, dns_status::nxdomain));
    EXPECT_EQ(f.state, status::fail);
    EXPECT_TRUE(has(f.detail, "does not resolve (NXDOMAIN)")) << f.detail;
    EXPECT_TRUE(has(f.detail, "last published 203.0.113.7")) << f.detail;
    EXPECT_TRUE(has(f.fix, "systemctl status splitmail-ddns")) << f.fix;
}

TEST(DdnsRecord, NothingPublishedYetFails) {
    state empty; // what load_state() gives for a missing file
    auto f = judge_ddns_record(input(rr_type::a, {"198.51.100.9"}, &empty));
    EXPECT_EQ(f.state, status::fail);
    EXPECT_TRUE(has(f.detail, "not published yet by splitmail-ddns")) << f.detail;
    EXPECT_TRUE(has(f.detail, "DNS answers 198.51.100.9")) << f.detail;
    EXPECT_TRUE(has(f.fix, "systemctl enable --now splitmail-ddns")) << f.fix;
    EXPECT_TRUE(has(f.fix, "/etc/splitmail/ddns.toml")) << f.fix;
}

TEST(DdnsRecord, StateOfAnotherDomainCountsAsNothing) {
    auto st = published({{"home/A", "203.0.113.7"}});
    st.domain = "old.example";
    auto f = judge_ddns_record(input(rr_type::a, {"203.0.113.7"}, &st));
    EXPECT_EQ(f.state, status::fail);
    EXPECT_TRUE(has(f.detail, "not published yet")) << f.detail;
}

TEST(DdnsRecord, FamilyNeverPublishedWarnsWithSetting) {
    auto st = published({{"home/A", "203.0.113.7"}});
    auto f = judge_ddns_record(input(rr_type::aaaa, {}, &st));
    EXPECT_EQ(f.state, status::warn);
    EXPECT_TRUE(has(f.detail, "AAAA home.example.test: splitmail-ddns has not published one"))
        << f.detail;
    EXPECT_TRUE(has(f.fix, "ddns.families = \"ipv4\"")) << f.fix;
}

TEST(DdnsRecord, UnreadableStateWarns) {
    auto in = input(rr_type::a, {"203.0.113.7"}, nullptr);
    in.state_problem = "/var/lib/splitmail-ddns/state.json: Permission denied";
    auto f = judge_ddns_record(in);
    EXPECT_EQ(f.state, status::warn);
    EXPECT_TRUE(has(f.detail, "answers 203.0.113.7")) << f.detail;
    EXPECT_TRUE(has(f.detail, "Permission denied")) << f.detail;
    EXPECT_TRUE(has(f.fix, "as root")) << f.fix;
}

TEST(DdnsRecord, PendingRetryAfterIsNamed) {
    auto st = published({{"home/A", "203.0.113.7"}});
    st.not_before = std::chrono::system_clock::from_time_t(now + 600);
    auto f = judge_ddns_record(input(rr_type::a, {"198.51.100.9"}, &st));
    EXPECT_EQ(f.state, status::fail);
    EXPECT_TRUE(has(f.detail, "deSEC asked splitmail-ddns to wait until")) << f.detail;
    EXPECT_TRUE(has(f.detail, "(in 10 min)")) << f.detail;
    // A deadline in the past is not pending any more.
    st.not_before = std::chrono::system_clock::from_time_t(now - 600);
    f = judge_ddns_record(input(rr_type::a, {"198.51.100.9"}, &st));
    EXPECT_FALSE(has(f.detail, "wait until")) << f.detail;
}

TEST(DdnsRecord, LastErrorOfTheAgentIsNamed) {
    state empty;
    empty.domain = "example.test";
    empty.last_error = "deSEC rejected the API token from /etc/splitmail/desec.token";
    empty.last_error_at = std::chrono::system_clock::from_time_t(now - 300);
    auto f = judge_ddns_record(input(rr_type::a, {}, &empty, dns_status::nxdomain));
    EXPECT_EQ(f.state, status::fail);
    EXPECT_TRUE(has(f.detail, "splitmail-ddns's last error (5 min ago): deSEC rejected the API "
                              "token"))
        << f.detail;
}
