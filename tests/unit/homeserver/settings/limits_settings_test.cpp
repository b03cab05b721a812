// splitmail-home's IMAP admission, login deadline and TLS settings (issue 11).
#include "splitmail/config/home.hpp"

#include "splitmail/net/tls.hpp"

#include <gtest/gtest.h>

namespace splitmail::home {
namespace {

std::expected<settings, std::string> from(const std::string& extra) {
    std::string toml = "[users]\nfile = \"/nonexistent/users\"\n" + extra;
    auto v = config::load_string(toml, "home.toml", settings_table());
    if (!v) return std::unexpected(v.error());
    return settings_from(*v, "home.toml");
}

TEST(HomeLimitSettings, Defaults) {
    auto s = from("");
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->imap_max_connections, 1000u);
    EXPECT_EQ(s->imap_max_connections_per_ip, 10u);
    EXPECT_EQ(s->imap_max_connections_per_network, 50u);
    EXPECT_EQ(s->imap_max_unauthenticated, 500u) << "0 means half of imap.max_connections";
    EXPECT_EQ(s->imap_login_timeout, std::chrono::seconds(60));
    EXPECT_EQ(s->imap_overload_timeout, std::chrono::seconds(10));
    EXPECT_EQ(s->imap_tls_ciphers, net::default_server_ciphers);
    EXPECT_EQ(s->auth_cache_ttl, std::chrono::seconds(300)) << "issue 16: 5 minutes";
    EXPECT_EQ(s->auth_cache_size, 10000u);
    auto off = from("auth_cache_ttl = \"0s\"\nauth_cache_size = 5\n"); // in [users]
    ASSERT_TRUE(off) << off.error();
    EXPECT_EQ(off->auth_cache_ttl, std::chrono::seconds(0));
    EXPECT_EQ(off->auth_cache_size, 5u);
}

TEST(HomeLimitSettings, Errors) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"[imap]\nmax_connections = 10\nmax_unauthenticated = 11\n", "imap.max_unauthenticated"},
        {"[imap]\nmax_connections_per_network = 0\n", "imap.max_connections_per_network"},
        {"[imap]\nlogin_timeout = \"0s\"\n", "imap.login_timeout"},
        {"[imap]\noverload_timeout = \"0s\"\n", "imap.overload_timeout"},
        {"[imap]\ntls_ciphers = \"NO-SUCH-SUITE\"\n", "imap.tls_ciphers"},
        {"auth_cache_ttl = \"2d\"\n", "users.auth_cache_ttl"},
        {"auth_cache_size = -1\n", "users.auth_cache_size"},
    };
    for (const auto& [toml, key] : cases) {
        auto r = from(toml);
        ASSERT_FALSE(r) << toml;
        EXPECT_NE(r.error().find(key), std::string::npos) << r.error();
    }
}

TEST(HomeJunkFolderSetting, DefaultEmptyAndErrors) {
    auto d = from("");
    ASSERT_TRUE(d) << d.error();
    EXPECT_EQ(d->junk_folder, "Junk");
    for (const char* ok : {"Spam", "Junk Mail", "junk_2"}) {
        auto s = from(std::string("[maildir]\njunk_folder = \"") + ok + "\"\n");
        ASSERT_TRUE(s) << ok << ": " << s.error();
        EXPECT_EQ(s->junk_folder, ok);
    }
    auto off = from("[maildir]\njunk_folder = \"\"\n");
    ASSERT_TRUE(off) << off.error();
    EXPECT_EQ(off->junk_folder, "") << "empty: junk stays in the INBOX";
    for (const char* bad : {"INBOX", "inbox", "a/b", "..", ".Junk", "Junk.Old", " Junk", "Spä"}) {
        auto r = from(std::string("[maildir]\njunk_folder = \"") + bad + "\"\n");
        ASSERT_FALSE(r) << bad;
        EXPECT_NE(r.error().find("maildir.junk_folder"), std::string::npos) << r.error();
    }
}

} // namespace
} // namespace splitmail::home
