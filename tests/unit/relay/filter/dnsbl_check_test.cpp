// The relay's DNS lists (filter/dnsbl_check.hpp): what the answers of every list add up to,
// the refusal text, allow lists, and lists that fail.
#include "filter/dnsbl_check.hpp"

#include <gtest/gtest.h>

using namespace splitmail;
using namespace splitmail::relay;
using st = relay::dkim::key_answer::status;

namespace {

std::optional<relay::dkim::key_answer> listed(std::vector<std::string> a) {
    return relay::dkim::key_answer{st::ok, std::move(a)};
}
std::optional<relay::dkim::key_answer> nx() { return relay::dkim::key_answer{st::nxdomain, {}}; }

struct fixture {
    std::unique_ptr<relay::dns::unbound_resolver> resolver =
        std::move(*relay::dns::unbound_resolver::create({"127.0.0.1:9", 1})); // never asked here
    dnsbl_settings s;
    std::vector<std::pair<std::string, std::string>> warnings;
    filter::dnsbl_outcome decide(std::vector<std::optional<relay::dkim::key_answer>> answers) {
        filter::dnsbl_checker c(s, *resolver);
        return c.decide("192.0.2.9", answers, [this](const std::string& z, const std::string& w) {
            warnings.emplace_back(z, w);
        });
    }
};

} // namespace

TEST(DnsblCheck, WeightsAddUpToTheThreshold) {
    fixture f;
    f.s.sites = {"zen.spamhaus.org=127.0.0.[2..11]*2", "bl.spamcop.net", "list.dnswl.org*-2"};
    f.s.threshold = 3;
    auto one = f.decide({listed({"127.0.0.2"}), nx(), nx()});
    EXPECT_EQ(one.score, 2);
    EXPECT_FALSE(one.block) << "2 < 3";
    EXPECT_EQ(one.lists, "zen.spamhaus.org(127.0.0.2)");
    auto two = f.decide({listed({"127.0.0.2"}), listed({"127.0.0.2"}), nx()});
    ASSERT_TRUE(two.block);
    EXPECT_EQ(two.block->format(), "554 5.7.1 Service unavailable; client [192.0.2.9] blocked "
                                   "using zen.spamhaus.org, bl.spamcop.net\r\n");
    // An allow list takes weight away.
    auto allowed = f.decide({listed({"127.0.0.2"}), listed({"127.0.0.2"}), listed({"127.0.10.3"})});
    EXPECT_EQ(allowed.score, 1);
    EXPECT_FALSE(allowed.block);
    EXPECT_TRUE(f.warnings.empty());
}

TEST(DnsblCheck, AllowThresholdSkipsGreylisting) {
    fixture f;
    f.s.sites = {"list.dnswl.org=127.0.[0..255].[1..3]*-2"};
    f.s.allow_threshold = 0; // off
    EXPECT_FALSE(f.decide({listed({"127.0.15.2"})}).allowed);
    f.s.allow_threshold = -1;
    EXPECT_TRUE(f.decide({listed({"127.0.15.2"})}).allowed);
    EXPECT_FALSE(f.decide({listed({"127.0.15.0"})}).allowed) << "outside the pattern";
}

TEST(DnsblCheck, FailingListsCountAsNotListedAndWarn) {
    fixture f;
    f.s.sites = {"zen.spamhaus.org", "slow.example.org"};
    auto o = f.decide({listed({"127.255.255.254"}), std::nullopt});
    EXPECT_EQ(o.score, 0);
    EXPECT_FALSE(o.block);
    ASSERT_EQ(f.warnings.size(), 2u);
    EXPECT_EQ(f.warnings[0].first, "zen.spamhaus.org");
    EXPECT_NE(f.warnings[0].second.find("public resolvers"), std::string::npos);
    EXPECT_EQ(f.warnings[1].first, "slow.example.org");
    EXPECT_NE(f.warnings[1].second.find("no usable answer"), std::string::npos);
    // A temporary DNS failure is the same as no answer.
    f.warnings.clear();
    f.decide({nx(), relay::dkim::key_answer{st::temp_error, {}}});
    EXPECT_EQ(f.warnings.size(), 1u);
}
