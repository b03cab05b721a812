#include "splitmail/config/ddns.hpp"

#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include <gtest/gtest.h>

namespace splitmail::ddns {
namespace {

std::expected<settings, std::string> from(const std::string& toml) {
    auto v = config::load_string(toml, "ddns.toml", settings_table());
    if (!v) return std::unexpected(v.error());
    return settings_from(*v, "ddns.toml");
}

const std::string minimal = "ddns.domain = \"home.example\"\ndesec.token_file = \"/t\"\n";

TEST(DdnsSettings, Defaults) {
    auto s = from(minimal);
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->subnames, std::vector<std::string>{""});
    EXPECT_TRUE(s->ipv4 && s->ipv6);
    EXPECT_EQ(s->interval, std::chrono::seconds(300));
    EXPECT_EQ(s->api_url, "https://desec.io/api/v1/");
    EXPECT_EQ(s->sources.v4.type, ip_source::kind::checkip);
    EXPECT_EQ(s->sources.checkip_v6, "https://checkipv6.dedyn.io/");
    EXPECT_TRUE(s->ca_file.empty());
    EXPECT_TRUE(s->damping);
}

TEST(DdnsSettings, ErrorsNameKeyAndReason) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"ddns.families = \"ipv5\"", "ddns.families"},
        {"ddns.interval = \"0s\"", "ddns.interval"},
        {"ddns.names = [\"Mail\"]", "ddns.names"},
        {"ddns.names = [\"@\", \"\"]", "ddns.names"},
        {"ddns.names = []", "ddns.names"},
        {"ddns.ttl = 90000", "ddns.ttl"},
        {"ddns.retry_max = \"1s\"", "ddns.retry_max"},
        {"ipv4.source = \"url:http://x/\"", "ipv4.source"},
        {"ipv6.source = \"dns\"", "ipv6.source"},
        {"desec.api_url = \"http://desec.io/api/v1/\"", "desec.api_url"},
        {"ddns.families = \"ipv4\"\nipv4.source = \"off\"", "ipv4.source"},
    };
    for (const auto& [line, key] : cases) {
        auto s = from(line + "\n" + minimal);
        ASSERT_FALSE(s) << line;
        EXPECT_NE(s.error().find("ddns.toml"), std::string::npos) << s.error();
        EXPECT_NE(s.error().find(key), std::string::npos) << s.error();
    }
    EXPECT_FALSE(from("bogus = 1\n" + minimal));
    // Off is fine for a family that is not maintained.
    EXPECT_TRUE(from("ddns.families = \"ipv4\"\nipv6.source = \"off\"\n" + minimal));
}

TEST(DdnsSettings, RequiredKeys) {
    EXPECT_FALSE(from("desec.token_file = \"/t\"\n"));
    EXPECT_FALSE(from("ddns.domain = \"home.example\"\n"));
}

TEST(DdnsSettings, ApexAndSubnames) {
    auto s = from("ddns.names = [\"@\", \"mail\", \"_imaps._tcp\"]\n" + minimal);
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->subnames, (std::vector<std::string>{"", "mail", "_imaps._tcp"}));
}

TEST(DdnsSettings, ConfigDocIsRendered) {
    auto md = config::render_markdown("splitmail-ddns", "ddns.toml", settings_table());
    EXPECT_NE(md.find("ddns.domain"), std::string::npos);
    EXPECT_NE(md.find("desec.token_file"), std::string::npos);
}

struct DdnsTokenTest : ::testing::Test {
    std::filesystem::path file =
        std::filesystem::temp_directory_path() / ("ddns-token-" + std::to_string(::getpid()));
    void write(const std::string& text, mode_t mode) {
        std::ofstream(file) << text;
        ::chmod(file.c_str(), mode);
    }
    void TearDown() override { std::filesystem::remove(file); }
};

TEST_F(DdnsTokenTest, ReadsPrivateFile) {
    write("  abc-DEF_123\n", 0600);
    EXPECT_EQ(read_token(file).value(), "abc-DEF_123");
    write("abc\n", 0400);
    EXPECT_TRUE(read_token(file));
}

TEST_F(DdnsTokenTest, RefusesGroupOrOtherAccess) {
    for (mode_t m : {0640, 0604, 0644, 0660, 0602}) {
        write("abc\n", m);
        auto t = read_token(file);
        ASSERT_FALSE(t) << std::oct << m;
        EXPECT_NE(t.error().find("accessible by group or others"), std::string::npos);
        EXPECT_NE(t.error().find("chmod 600"), std::string::npos);
    }
}

TEST_F(DdnsTokenTest, RefusesEmptyOrHeaderInjection) {
    write("\n", 0600);
    EXPECT_FALSE(read_token(file));
    write("abc\r\nX-Evil: 1\n", 0600);
    EXPECT_FALSE(read_token(file));
    EXPECT_FALSE(read_token(file.string() + ".missing"));
}

} // namespace
} // namespace splitmail::ddns
