// The daemons' shared command line (common program/daemon_main.hpp).
#include "splitmail/program/daemon_main.hpp"

#include <gtest/gtest.h>

#include <expected>
#include <string>
#include <vector>

namespace {

using namespace splitmail;

constexpr std::string_view own[] = {"--once"};

program::daemon_info info() {
    static const config::setting_spec none[] = {{}};
    return {"splitmail-test", "usage: splitmail-test --config FILE\n", "test.toml",
            std::span<const config::setting_spec>(none, 0), own};
}

std::variant<program::command_line, int> parse(std::vector<std::string> args) {
    std::vector<char*> argv{const_cast<char*>("splitmail-test")};
    for (auto& a : args) argv.push_back(a.data());
    return program::parse_command_line(info(), static_cast<int>(argv.size()), argv.data());
}

TEST(daemon_command_line, config_both_spellings_check_and_own_flags) {
    auto r = parse({"--config", "a.toml", "--check-config", "--once"});
    ASSERT_TRUE(std::holds_alternative<program::command_line>(r));
    auto cl = std::get<program::command_line>(r);
    EXPECT_EQ(cl.config, "a.toml");
    EXPECT_TRUE(cl.check_only);
    EXPECT_TRUE(cl.has("--once"));
    EXPECT_FALSE(cl.has("--dry-run"));
    auto r2 = parse({"--config=b.toml"});
    ASSERT_TRUE(std::holds_alternative<program::command_line>(r2));
    EXPECT_EQ(std::get<program::command_line>(r2).config, "b.toml");
    EXPECT_FALSE(std::get<program::command_line>(r2).check_only);
}

TEST(daemon_command_line, help_is_exit_0_and_errors_are_usage) {
    testing::internal::CaptureStdout();
    auto h = parse({"--help"});
    EXPECT_NE(testing::internal::GetCapturedStdout().find("usage: splitmail-test"),
              std::string::npos);
    ASSERT_TRUE(std::holds_alternative<int>(h));
    EXPECT_EQ(std::get<int>(h), program::exit_ok);
    testing::internal::CaptureStderr();
    auto u = parse({"--dry-run"}); // another program's flag
    auto err = testing::internal::GetCapturedStderr();
    ASSERT_TRUE(std::holds_alternative<int>(u));
    EXPECT_EQ(std::get<int>(u), program::exit_usage);
    EXPECT_NE(err.find("splitmail-test: unknown argument \"--dry-run\""), std::string::npos);
    testing::internal::CaptureStderr();
    auto m = parse({"--config"}); // no file after it
    err = testing::internal::GetCapturedStderr();
    ASSERT_TRUE(std::holds_alternative<int>(m));
    EXPECT_EQ(std::get<int>(m), program::exit_usage);
    EXPECT_NE(err.find("--config needs a file name"), std::string::npos);
}

struct fake_settings {
    std::string log_level = "info";
};

TEST(daemon_main, bad_config_is_78_preflight_names_the_file_check_only_does_not_run) {
    bool ran = false;
    auto load_ok = [](const std::string&) -> std::expected<fake_settings, std::string> {
        return fake_settings{};
    };
    auto load_bad = [](const std::string& f) -> std::expected<fake_settings, std::string> {
        return std::unexpected(f + ": line 3: bad");
    };
    auto fine = [](const fake_settings&) { return std::string(); };
    auto broken = [](const fake_settings&) { return std::string("spool.dir: not writable"); };
    auto run = [&ran](const fake_settings&, const std::string&) {
        ran = true;
        return 7;
    };
    std::string a0 = "x", a1 = "--config", a2 = "c.toml", a3 = "--check-config";
    char* check[] = {a0.data(), a1.data(), a2.data(), a3.data()};
    char* normal[] = {a0.data(), a1.data(), a2.data()};
    char* none[] = {a0.data()};

    testing::internal::CaptureStderr();
    EXPECT_EQ(program::daemon_main(info(), 3, normal, load_bad, fine, run), program::exit_config);
    EXPECT_NE(testing::internal::GetCapturedStderr().find("c.toml: line 3: bad"),
              std::string::npos);
    testing::internal::CaptureStderr();
    EXPECT_EQ(program::daemon_main(info(), 3, normal, load_ok, broken, run), program::exit_config);
    EXPECT_NE(testing::internal::GetCapturedStderr().find(
                  "splitmail-test: c.toml: spool.dir: not writable"),
              std::string::npos);
    testing::internal::CaptureStderr();
    EXPECT_EQ(program::daemon_main(info(), 1, none, load_ok, fine, run), program::exit_usage);
    EXPECT_NE(testing::internal::GetCapturedStderr().find("--config FILE is required"),
              std::string::npos);
    testing::internal::CaptureStdout();
    EXPECT_EQ(program::daemon_main(info(), 4, check, load_ok, fine, run), program::exit_ok);
    EXPECT_NE(testing::internal::GetCapturedStdout().find("c.toml: configuration ok"),
              std::string::npos);
    EXPECT_FALSE(ran);
    EXPECT_EQ(program::daemon_main(info(), 3, normal, load_ok, fine, run), 7);
    EXPECT_TRUE(ran);
}

} // namespace
