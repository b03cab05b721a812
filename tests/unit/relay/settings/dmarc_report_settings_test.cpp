// The relay's DMARC aggregate report settings (issue 17): defaults resolved from the other
// sections, errors naming the key.
#include "splitmail/config/relay.hpp"

#include <gtest/gtest.h>

namespace splitmail::relay {
namespace {

std::expected<settings, std::string> from(const std::string& extra) {
    std::string toml = "[relay]\nhostname = \"mx.example.test\"\ndomains = [\"Example.TEST\"]\n"
                       "[home]\nlmtp = \"127.0.0.1:2424\"\n[spool]\ndir = \"/srv/spool\"\n" +
                       extra;
    auto v = config::load_string(toml, "relay.toml", settings_table());
    if (!v) return std::unexpected(v.error());
    return settings_from(*v, "relay.toml");
}

TEST(DmarcReportSettings, Defaults) {
    auto s = from("");
    ASSERT_TRUE(s) << s.error();
    const auto& r = s->dmarc_reports;
    EXPECT_FALSE(r.enabled);
    EXPECT_EQ(r.from, "dmarc-noreply@example.test");
    EXPECT_EQ(r.org_name, "mx.example.test");
    EXPECT_EQ(r.interval, std::chrono::seconds(86400));
    EXPECT_EQ(r.send_delay, std::chrono::seconds(300));
    EXPECT_EQ(r.max_records, 100000u);
    EXPECT_EQ(r.dir, std::filesystem::path("/srv/spool/dmarc"));
    EXPECT_EQ(r.keep, std::chrono::seconds(7 * 86400));
}

TEST(DmarcReportSettings, ExplicitAndErrors) {
    auto s = from("[dmarc_reports]\nenabled = true\nfrom = \"r@example.test\"\n"
                  "org_name = \"Org\"\ninterval = \"10s\"\ndir = \"rep\"\nmax_records = 5\n");
    ASSERT_TRUE(s) << s.error();
    EXPECT_TRUE(s->dmarc_reports.enabled);
    EXPECT_EQ(s->dmarc_reports.from, "r@example.test");
    EXPECT_EQ(s->dmarc_reports.interval, std::chrono::seconds(10));
    EXPECT_EQ(s->dmarc_reports.dir, std::filesystem::path("/srv/spool/rep"));
    EXPECT_EQ(s->dmarc_reports.max_records, 5u);
    const std::vector<std::pair<std::string, std::string>> cases{
        {"[dmarc_reports]\ninterval = \"9s\"\n", "dmarc_reports.interval"},
        {"[dmarc_reports]\ninterval = \"8d\"\n", "dmarc_reports.interval"},
        {"[dmarc_reports]\nmax_records = 0\n", "dmarc_reports.max_records"},
        {"[dmarc_reports]\nsend_delay = \"13h\"\n", "dmarc_reports.send_delay"},
        {"[dmarc_reports]\nkeep = \"1m\"\n", "dmarc_reports.keep"},
        {"[dmarc_reports]\nenabled = true\nfrom = \"no-at-sign\"\n", "dmarc_reports.from"},
        {"[dmarc_reports]\nunknown = 1\n", "dmarc_reports.unknown"},
        {"[dmarc_reports]\nenabled = true\n[dmarc]\nenabled = false\n", "dmarc_reports.enabled"},
    };
    for (const auto& [toml, key] : cases) {
        auto r = from(toml);
        ASSERT_FALSE(r) << toml;
        EXPECT_NE(r.error().find(key), std::string::npos) << r.error();
    }
}

} // namespace
} // namespace splitmail::relay
