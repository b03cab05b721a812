// Settings of the IMAP pass-through (issue 16): the relay's imap_proxy.* (defaults, home's
// address derived from home.lmtp, errors naming the key) and home's imaps.proxy_listen /
// imap.proxy_from (networks parsed, a dedicated listener without trusted sources refused).
#include "splitmail/config/home.hpp"
#include "splitmail/config/relay.hpp"

#include <gtest/gtest.h>

namespace splitmail {
namespace {

std::expected<relay::settings, std::string> relay_from(const std::string& extra,
                                                       const std::string& lmtp = "10.8.0.2:2424") {
    std::string toml = "[relay]\nhostname = \"mx.example.test\"\ndomains = [\"example.test\"]\n"
                       "[home]\nlmtp = \"" +
                       lmtp + "\"\n" + extra;
    auto v = config::load_string(toml, "relay.toml", relay::settings_table());
    if (!v) return std::unexpected(v.error());
    return relay::settings_from(*v, "relay.toml");
}

std::expected<home::settings, std::string> home_from(const std::string& extra) {
    std::string toml = "[home]\ndomains = [\"example.test\"]\n" + extra;
    auto v = config::load_string(toml, "home.toml", home::settings_table());
    if (!v) return std::unexpected(v.error());
    return home::settings_from(*v, "home.toml", config::referenced_files::names_only);
}

TEST(ImapProxySettings, RelayDefaultsAndDerivedHome) {
    auto s = relay_from("");
    ASSERT_TRUE(s) << s.error();
    EXPECT_TRUE(s->imap_proxy_listen.empty()) << "off by default";
    EXPECT_EQ(s->imap_proxy_home, "10.8.0.2:993") << "home.lmtp's address, port 993";
    EXPECT_EQ(s->imap_proxy_max_connections, 500u);
    EXPECT_EQ(s->imap_proxy_max_connections_per_ip, 20u);
    EXPECT_EQ(s->imap_proxy_connect_timeout, std::chrono::seconds(5));
    EXPECT_EQ(s->imap_proxy_idle_timeout, std::chrono::seconds(31 * 60));
    auto v6 = relay_from("", "[fd00::2]:2424");
    ASSERT_TRUE(v6) << v6.error();
    EXPECT_EQ(v6->imap_proxy_home, "[fd00::2]:993");
    auto set = relay_from("[imap_proxy]\nlisten = [\"0.0.0.0:993\"]\nhome = \"10.8.0.2:10993\"\n");
    ASSERT_TRUE(set) << set.error();
    EXPECT_EQ(set->imap_proxy_listen, std::vector<std::string>{"0.0.0.0:993"});
    EXPECT_EQ(set->imap_proxy_home, "10.8.0.2:10993");
}

TEST(ImapProxySettings, RelayErrorsNameTheKey) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"[imap_proxy]\nlisten = [\"0.0.0.0:993\"]\nhome = \"no-port\"\n", "imap_proxy.home"},
        {"[imap_proxy]\nmax_connections = 0\n", "imap_proxy.max_connections"},
        {"[imap_proxy]\nmax_connections_per_ip = 0\n", "imap_proxy.max_connections_per_ip"},
        {"[imap_proxy]\nconnect_timeout = \"0s\"\n", "imap_proxy.connect_timeout"},
        {"[imap_proxy]\nidle_timeout = \"0s\"\n", "imap_proxy.idle_timeout"},
        {"[imap_proxy]\nlisten_typo = []\n", "imap_proxy.listen_typo"},
    };
    for (const auto& [toml, key] : cases) {
        auto r = relay_from(toml);
        ASSERT_FALSE(r) << toml;
        EXPECT_NE(r.error().find(key), std::string::npos) << r.error();
    }
}

TEST(ImapProxySettings, HomeTrustedSources) {
    auto s = home_from("[imaps]\nproxy_listen = [\"10.8.0.2:10993\"]\n"
                       "[imap]\nproxy_from = [\"10.8.0.1/32\", \"fd00::1\"]\n"
                       "tls_cert = \"/x.crt\"\ntls_key = \"/x.key\"\n");
    ASSERT_TRUE(s) << s.error();
    EXPECT_EQ(s->imaps_proxy_listen, std::vector<std::string>{"10.8.0.2:10993"});
    ASSERT_EQ(s->imap_proxy_from.size(), 2u);
    EXPECT_TRUE(s->imap_proxy_from[0].contains("10.8.0.1"));
    EXPECT_FALSE(s->imap_proxy_from[0].contains("10.8.0.3"));
    EXPECT_TRUE(s->imap_proxy_from[1].contains("fd00::1"));

    auto none = home_from("");
    ASSERT_TRUE(none) << none.error();
    EXPECT_TRUE(none->imaps_proxy_listen.empty());
    EXPECT_TRUE(none->imap_proxy_from.empty());

    auto no_from = home_from("[imaps]\nproxy_listen = [\"10.8.0.2:10993\"]\n"
                             "[imap]\ntls_cert = \"/x.crt\"\ntls_key = \"/x.key\"\n");
    ASSERT_FALSE(no_from);
    EXPECT_NE(no_from.error().find("imaps.proxy_listen"), std::string::npos) << no_from.error();
    auto bad_net = home_from("[imap]\nproxy_from = [\"relay.example\"]\n");
    ASSERT_FALSE(bad_net);
    EXPECT_NE(bad_net.error().find("imap.proxy_from"), std::string::npos) << bad_net.error();
    auto no_cert = home_from("[imaps]\nproxy_listen = [\"10.8.0.2:10993\"]\n"
                             "[imap]\nproxy_from = [\"10.8.0.1\"]\n");
    ASSERT_FALSE(no_cert);
    EXPECT_NE(no_cert.error().find("imap.tls_cert"), std::string::npos) << no_cert.error();
}

} // namespace
} // namespace splitmail
