// `splitmail setup home` in a temporary --root with --no-systemd: the plan, the refusal without
// --yes on a non-terminal, provision + token file, the systemctl commands printed and not run,
// and a re-run that changes nothing. (The full flow with services, the tunnel and deSEC runs in
// tests/integration/test_setup_guided.py.)
#include "provision_fixture.hpp"

#include "commands/setup.hpp"

#include <gtest/gtest.h>

#include <cstdio>

using namespace provision_test;

namespace {

result setup(std::vector<std::string> args) {
    std::ostringstream out, err;
    result r;
    r.code = splitmail::provision::run_setup(args, out, err);
    r.out = out.str();
    r.err = err.str();
    return r;
}

class SetupHome : public ::testing::Test {
protected:
    void SetUp() override {
        // The command asks on a terminal; these tests are the non-interactive path.
        if (::isatty(0) == 1) {
            ASSERT_NE(std::freopen("/dev/null", "r", stdin), nullptr);
        }
        ASSERT_EQ(run({"relay", "--domain", "example.com", "--hostname", "mx.example.com",
                       "--public-ipv4", "192.0.2.5", "--root", relay.path.string()})
                      .code,
                  0);
        spit(relay / "token.txt", "tok-abc_123\n");
    }
    std::vector<std::string> args(std::vector<std::string> extra = {}) {
        std::vector<std::string> a = {"home",
                                      "--pairing",
                                      (relay / "etc/splitmail/pairing-home.toml").string(),
                                      "--desec-token-file",
                                      (relay / "token.txt").string(),
                                      "--root",
                                      home.path.string(),
                                      "--no-systemd",
                                      "--resolver",
                                      "127.0.0.1:9"};
        a.insert(a.end(), extra.begin(), extra.end());
        return a;
    }
    temp_root relay, home;
};

TEST_F(SetupHome, PlanFirstNothingWithoutYesOnANonTerminal) {
    auto r = setup(args());
    EXPECT_EQ(r.code, 1) << r.out << r.err;
    EXPECT_NE(r.out.find("would create " + (home / "etc/splitmail/home.toml").string()),
              std::string::npos)
        << r.out;
    EXPECT_NE(r.err.find("--yes"), std::string::npos) << r.err;
    EXPECT_FALSE(fs::exists(home / "etc")) << "nothing written before the go-ahead";
    auto dry = setup(args({"--dry-run", "--yes"}));
    EXPECT_EQ(dry.code, 0) << dry.err;
    EXPECT_NE(dry.out.find("dry run: nothing was changed"), std::string::npos) << dry.out;
    EXPECT_FALSE(fs::exists(home / "etc"));
}

TEST_F(SetupHome, NoSystemdPrintsTheCommandsAndARerunChangesNothing) {
    auto r = setup(args({"--yes"}));
    ASSERT_EQ(r.code, 0) << r.out << r.err;
    const fs::path token = home / "etc/splitmail/desec.token";
    EXPECT_EQ(slurp(token), "tok-abc_123\n");
    EXPECT_EQ(mode_of(token), 0600u);
    EXPECT_TRUE(fs::exists(home / "etc/wireguard/wg-smhome.conf"));
    for (const char* cmd :
         {"would run: systemctl daemon-reload",
          "would run: systemctl enable --now wg-quick@wg-smhome",
          "would run: systemctl enable --now splitmail-home",
          "would run: systemctl enable --now splitmail-ddns",
          "not waiting: nothing was started (--no-systemd)", "==> splitmail check",
          "would run: splitmail cert obtain --name home.example.com", "port 993",
          "mx.example.com, port 465"})
        EXPECT_NE(r.out.find(cmd), std::string::npos) << cmd << "\n" << r.out;
    EXPECT_EQ(r.out.find("$ systemctl"), std::string::npos) << "nothing run: " << r.out;

    // Again, without --yes: nothing to confirm, nothing changes.
    const std::string before = slurp(home / "etc/splitmail/home.toml");
    auto again = setup(args());
    ASSERT_EQ(again.code, 0) << again.out << again.err;
    const std::string plan = again.out.substr(0, again.out.find("==> provision"));
    EXPECT_EQ(plan.find("would "), std::string::npos) << plan;
    EXPECT_NE(plan.find("unchanged " + token.string()), std::string::npos) << plan;
    EXPECT_EQ(slurp(home / "etc/splitmail/home.toml"), before);
}

TEST(Setup, UsageErrorsNameTheOption) {
    std::ostringstream out, err;
    using splitmail::provision::run_setup;
    EXPECT_EQ(run_setup(std::vector<std::string>{"vps"}, out, err), 2);
    EXPECT_NE(err.str().find("`setup relay` (the VPS) or `setup home`"), std::string::npos);
    std::ostringstream out2, err2;
    EXPECT_EQ(run_setup(std::vector<std::string>{"home", "--domain", "x.org"}, out2, err2), 2);
    EXPECT_NE(err2.str().find("--domain is for `setup relay`"), std::string::npos) << err2.str();
    std::ostringstream out3, err3;
    EXPECT_EQ(run_setup(std::vector<std::string>{"relay", "--help"}, out3, err3), 0);
    EXPECT_NE(out3.str().find("usage: splitmail setup relay"), std::string::npos);
}

} // namespace
