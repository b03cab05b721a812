// Unit tests of provision/check: findings output (text and the stable JSON fields), exit
// status, `wg show latest-handshakes` parsing, and the command line of `splitmail check`.
#include "check/finding.hpp"
#include "check/wireguard.hpp"
#include "commands/check.hpp"

#include <nlohmann/json.hpp>

#include <gtest/gtest.h>

#include <sstream>

using namespace splitmail::provision::check;

TEST(CheckReport, ExitStatusAndWorst) {
    EXPECT_EQ(exit_status({ok("dns", "a")}), 0);
    EXPECT_EQ(exit_status({ok("dns", "a"), warn("tls", "b", "renew")}), 0);
    EXPECT_EQ(exit_status({warn("tls", "b"), fail("spf", "c", "fix")}), 1);
    EXPECT_EQ(worst({ok("a", ""), warn("b", "")}), status::warn);
    EXPECT_EQ(exit_status({}), 0);
}

TEST(CheckReport, TextShowsMarksAndFixes) {
    std::ostringstream o;
    print_text(
        {ok("dns", "MX as planned"),
         fail("spf", "does not cover 203.0.113.5", "splitmail dns apply --domain example.com"),
         warn("tls", "expires in 5 days", "renew")},
        o);
    const std::string s = o.str();
    EXPECT_NE(s.find("\u2713 dns  MX as planned\n"), std::string::npos) << s;
    EXPECT_NE(s.find("\u2717 spf  does not cover 203.0.113.5\n"), std::string::npos) << s;
    EXPECT_NE(s.find("fix: splitmail dns apply --domain example.com\n"), std::string::npos);
    EXPECT_NE(s.find("! tls  expires in 5 days\n"), std::string::npos);
    EXPECT_NE(s.find("problems found: 3 checks, 1 failed, 1 warnings"), std::string::npos);
}

TEST(CheckReport, JsonFieldsAreStable) {
    std::ostringstream o;
    print_json({ok("dns", "fine"), fail("ptr", "no PTR \xff", "set the PTR")}, o);
    auto j = nlohmann::json::parse(o.str());
    EXPECT_EQ(j["status"], "fail");
    ASSERT_EQ(j["findings"].size(), 2u);
    EXPECT_EQ(
        j["findings"][0],
        (nlohmann::json{{"check", "dns"}, {"status", "ok"}, {"detail", "fine"}, {"fix", ""}}));
    EXPECT_EQ(j["findings"][1]["status"], "fail");
    EXPECT_EQ(j["findings"][1]["fix"], "set the PTR");
}

TEST(CheckWireguard, LatestHandshakes) {
    const std::string k1 = "xTIBA5rboUvnH4htodjb6e697QjLERt1NAB4mZqp8Dg=";
    const std::string k2 = "TrMvSoP4jYQlY6RIzBgbssQqY3vxI2Pi+y71lOWWXX0=";
    auto h = parse_latest_handshakes(k1 + "\t1700000000\n" + k2 + "\t0\n");
    ASSERT_TRUE(h);
    ASSERT_EQ(h->size(), 2u);
    EXPECT_EQ((*h)[0].peer, k1);
    EXPECT_EQ((*h)[0].when, 1700000000);
    EXPECT_EQ((*h)[1].when, 0);
    EXPECT_TRUE(parse_latest_handshakes("")->empty());
    EXPECT_FALSE(parse_latest_handshakes(k1 + " 1700000000\n"));
    EXPECT_FALSE(parse_latest_handshakes(k1 + "\tsoon\n"));
    EXPECT_FALSE(parse_latest_handshakes("short\t1\n"));
    EXPECT_FALSE(parse_latest_handshakes("Unable to access interface: No such device\n"));
}

TEST(CheckCommand, UsageErrorsExit2) {
    using splitmail::provision::run_check;
    for (std::vector<std::string> args : {std::vector<std::string>{"--only", "nosuch"},
                                          {"--only", ""},
                                          {"--resolver", "localhost"},
                                          {"--resolver", "[::1]"},
                                          {"--site"},
                                          {"extra"}}) {
        std::ostringstream out, err;
        EXPECT_EQ(run_check(args, out, err), 2) << args[0];
        EXPECT_NE(err.str().find("usage:"), std::string::npos) << err.str();
    }
    std::ostringstream out, err;
    EXPECT_EQ(run_check(std::vector<std::string>{"--help"}, out, err), 0);
}

TEST(CheckCommand, MissingSiteFileFailsWithFix) {
    using splitmail::provision::run_check;
    std::ostringstream out, err;
    EXPECT_EQ(
        run_check(std::vector<std::string>{"--site", "/nonexistent/site.toml", "--json"}, out, err),
        1);
    auto j = nlohmann::json::parse(out.str());
    EXPECT_EQ(j["findings"][0]["check"], "site");
    EXPECT_NE(j["findings"][0]["fix"].get<std::string>().find("splitmail provision relay"),
              std::string::npos);
}
