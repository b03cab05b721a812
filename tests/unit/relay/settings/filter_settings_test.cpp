// The rspamd / clamav settings (issue 18): defaults, both address forms, errors naming the key.
#include "splitmail/config/relay.hpp"

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

TEST(FilterSettings, DefaultsAreOff) {
    auto s = from("");
    ASSERT_TRUE(s) << s.error();
    EXPECT_FALSE(s->rspamd.enabled);
    EXPECT_EQ(s->rspamd.address, "127.0.0.1:11333");
    EXPECT_EQ(s->rspamd.timeout, std::chrono::seconds(20));
    EXPECT_FALSE(s->rspamd.tempfail_on_failure);
    EXPECT_EQ(s->rspamd.max_size, 25u << 20);
    EXPECT_FALSE(s->clamav.enabled);
    EXPECT_EQ(s->clamav.address, "/run/clamav/clamd.ctl");
    EXPECT_EQ(s->clamav.timeout, std::chrono::seconds(30));
    EXPECT_FALSE(s->clamav.tempfail_on_failure);
}

TEST(FilterSettings, Explicit) {
    auto s = from("[rspamd]\nenabled = true\naddress = \"[::1]:11333\"\ntimeout = \"5s\"\n"
                  "on_failure = \"tempfail\"\nmax_size = \"10M\"\n"
                  "[clamav]\nenabled = true\naddress = \"127.0.0.1:3310\"\n");
    ASSERT_TRUE(s) << s.error();
    EXPECT_TRUE(s->rspamd.enabled);
    EXPECT_TRUE(s->rspamd.tempfail_on_failure);
    EXPECT_EQ(s->rspamd.timeout, std::chrono::seconds(5));
    EXPECT_EQ(s->rspamd.max_size, 10u << 20);
    EXPECT_EQ(s->clamav.address, "127.0.0.1:3310");
}

TEST(FilterSettings, ErrorsNameTheKey) {
    const std::vector<std::pair<std::string, std::string>> cases{
        {"[rspamd]\non_failure = \"reject\"\n", "rspamd.on_failure: must be \"accept\" or"},
        {"[clamav]\non_failure = \"\"\n", "clamav.on_failure"},
        {"[rspamd]\naddress = \"/run/rspamd.sock\"\n", "rspamd.address"},
        {"[rspamd]\naddress = \"localhost\"\n", "rspamd.address"},
        {"[clamav]\naddress = \"clamd\"\n", "clamav.address"},
        {"[rspamd]\ntimeout = \"0s\"\n", "rspamd.timeout"},
        {"[clamav]\ntimeout = \"1h\"\n", "clamav.timeout"},
        {"[clamav]\nmax_size = \"10\"\n", "clamav.max_size"},
        {"[rspamd]\nenabled = \"yes\"\n", "rspamd.enabled"},
        {"[rspamd]\nenable = true\n", "rspamd.enable"},
    };
    for (const auto& [toml, key] : cases) {
        auto r = from(toml);
        ASSERT_FALSE(r) << toml;
        EXPECT_NE(r.error().find(key), std::string::npos) << r.error();
        EXPECT_TRUE(r.error().starts_with("relay.toml: ")) << r.error();
    }
}

} // namespace
} // namespace splitmail::relay
