// The relay's admission, deadline and TLS settings (issue 11): defaults, derived values,
// errors naming the key.
#include "splitmail/config/relay.hpp"

#include "splitmail/net/tls.hpp"

#include <gtest/gtest.h>

namespace splitmail::relay {
namespace {

std::expected<settings, std::string> from(const std::string& extra) {
    std::string toml = "[relay]\nhostname = \"mx.example.test\"\ndomains = [\"example.test\"]\n"
                       "[home]\nlmtp = \"127.0.0.1:2424\"\n" +
                       extra;
    auto v = config::load_string(toml, "relay.toml", settings_table());
    if (!v) return std::unexpected(v.error());
    return settings_from(*v, "relay.toml");
}

TEST(RelayLimitSettings, Defaults) {
    auto s = from("");
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->max_connections, 500u);
    EXPECT_EQ(s->max_connections_per_ip, 10u);
    EXPECT_EQ(s->max_connections_per_network, 50u);
    EXPECT_EQ(s->max_unauthenticated, 400u) << "0 means 4/5 of smtp.max_connections";
    EXPECT_EQ(s->helo_timeout, std::chrono::seconds(30));
    EXPECT_EQ(s->idle_timeout, std::chrono::seconds(300));
    EXPECT_EQ(s->overload_timeout, std::chrono::seconds(10));
    EXPECT_EQ(s->min_data_rate, 500u);
    EXPECT_EQ(s->tls_ciphers, net::default_server_ciphers) << "table default = tls.hpp default";
}

TEST(RelayLimitSettings, ExplicitPoolAndErrors) {
    auto s = from("[smtp]\nmax_connections = 100\nmax_unauthenticated = 60\n");
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->max_unauthenticated, 60u);
    const std::vector<std::pair<std::string, std::string>> cases{
        {"[smtp]\nmax_connections = 100\nmax_unauthenticated = 101\n", "smtp.max_unauthenticated"},
        {"[smtp]\nmax_connections_per_network = 0\n", "smtp.max_connections_per_network"},
        {"[smtp]\nhelo_timeout = \"0s\"\n", "smtp.helo_timeout"},
        {"[smtp]\noverload_timeout = \"0s\"\n", "smtp.overload_timeout"},
        {"[smtp]\nmin_data_rate = 0\n", "smtp.min_data_rate"},
        {"[tls]\nciphers = \"NO-SUCH-SUITE\"\n", "tls.ciphers"},
    };
    for (const auto& [toml, key] : cases) {
        auto r = from(toml);
        ASSERT_FALSE(r) << toml;
        EXPECT_NE(r.error().find(key), std::string::npos) << r.error();
    }
}

} // namespace
} // namespace splitmail::relay
