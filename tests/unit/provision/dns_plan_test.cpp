// provision/dns/plan: the records computed from a relay tree, their presentation format, and the
// errors that name what to fix; zone.hpp renderings.
#include "dns/plan.hpp"
#include "dns/zone.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <regex>

#include "unit/provision/dns_fixture.hpp"

namespace splitmail::provision::dns {
namespace {

using testing::dns_fixture;
namespace fs = std::filesystem;

const desec::rrset* find(const plan& p, const std::string& sub, const std::string& type) {
    for (const auto& r : p.rrsets)
        if (r.subname == sub && r.type == type) return &r;
    return nullptr;
}

// The concatenated character-strings of a TXT record; every string at most 255 octets.
std::string txt_value(const std::string& rec) {
    std::string v;
    const std::regex str("\"([^\"]*)\"");
    std::size_t covered = 0;
    for (std::sregex_iterator it(rec.begin(), rec.end(), str), end; it != end; ++it) {
        EXPECT_LE((*it)[1].length(), 255u) << rec;
        v += (*it)[1];
        covered += static_cast<std::size_t>(it->length()) + 1;
    }
    EXPECT_EQ(covered, rec.size() + 1) << "not only quoted strings: " << rec;
    return v;
}

TEST(DnsPlan, RecordsOfARelayInTheZone) {
    dns_fixture f;
    auto p = make_plan(f.s, "example.com");
    ASSERT_TRUE(p) << p.error();
    EXPECT_EQ(p->domain, "example.com");

    ASSERT_TRUE(find(*p, "", "MX"));
    EXPECT_EQ(find(*p, "", "MX")->records, std::vector<std::string>{"10 mx.example.com."});
    ASSERT_TRUE(find(*p, "mx", "A"));
    EXPECT_EQ(find(*p, "mx", "A")->records, std::vector<std::string>{"192.0.2.10"});
    ASSERT_TRUE(find(*p, "mx", "AAAA"));
    EXPECT_EQ(find(*p, "mx", "AAAA")->records, std::vector<std::string>{"2001:db8::10"});

    ASSERT_TRUE(find(*p, "", "TXT"));
    EXPECT_EQ(txt_value(find(*p, "", "TXT")->records.at(0)),
              "v=spf1 ip4:192.0.2.10 ip6:2001:db8::10 -all");
    ASSERT_TRUE(find(*p, "mx", "TXT")) << "SPF for the HELO name";
    EXPECT_EQ(find(*p, "mx", "TXT")->records, find(*p, "", "TXT")->records);
    EXPECT_EQ(txt_value(find(*p, "_dmarc", "TXT")->records.at(0)),
              "v=DMARC1; p=none; rua=mailto:postmaster@example.com");
    EXPECT_EQ(txt_value(find(*p, "_smtp._tls", "TXT")->records.at(0)),
              "v=TLSRPTv1; rua=mailto:postmaster@example.com");

    // Both DKIM keys, each value equal to what `splitmail dkim` derives from the key file.
    for (const char* sel : {"sm1-rsa", "sm1-ed25519"}) {
        const auto* r = find(*p, std::string(sel) + "._domainkey", "TXT");
        ASSERT_TRUE(r) << sel;
        ASSERT_EQ(r->records.size(), 1u);
        auto want = dkim_txt_value(f.dir / "dkim/example.com" / (std::string(sel) + ".key"));
        ASSERT_TRUE(want);
        EXPECT_EQ(txt_value(r->records[0]), *want);
    }
    // The RSA-2048 value is longer than 255 octets: it must have been split.
    EXPECT_NE(find(*p, "sm1-rsa._domainkey", "TXT")->records[0].find("\" \""), std::string::npos);

    ASSERT_TRUE(find(*p, "_25._tcp.mx", "TLSA"));
    EXPECT_EQ(find(*p, "_25._tcp.mx", "TLSA")->records,
              std::vector<std::string>{"3 1 1 " + f.spki_sha256});

    EXPECT_EQ(find(*p, "_submissions._tcp", "SRV")->records,
              std::vector<std::string>{"0 1 465 mx.example.com."});
    EXPECT_EQ(find(*p, "_submission._tcp", "SRV")->records,
              std::vector<std::string>{"10 1 587 mx.example.com."});
    EXPECT_EQ(find(*p, "_pop3._tcp", "SRV")->records, std::vector<std::string>{"0 0 0 ."});
    EXPECT_EQ(find(*p, "_pop3s._tcp", "SRV")->records, std::vector<std::string>{"0 0 0 ."});
    EXPECT_FALSE(find(*p, "_imaps._tcp", "SRV")) << "imap_host is empty: IMAP not announced";

    for (const auto& r : p->rrsets) EXPECT_EQ(r.ttl, 3600u);
    // Deterministic order: sorted by (subname, type).
    for (std::size_t i = 1; i < p->rrsets.size(); ++i)
        EXPECT_LT(std::tie(p->rrsets[i - 1].subname, p->rrsets[i - 1].type),
                  std::tie(p->rrsets[i].subname, p->rrsets[i].type));
    bool ptr_note = false;
    for (const auto& n : p->notes)
        ptr_note = ptr_note || (n.find("PTR") != std::string::npos &&
                                n.find("192.0.2.10") != std::string::npos &&
                                n.find("mx.example.com.") != std::string::npos);
    EXPECT_TRUE(ptr_note);
}

TEST(DnsPlan, ImapHostAnnouncedWithImplicitTlsOnly) {
    dns_fixture f;
    f.s.imap_host = "home.example.com";
    auto p = make_plan(f.s, "example.com");
    ASSERT_TRUE(p) << p.error();
    EXPECT_EQ(find(*p, "_imaps._tcp", "SRV")->records,
              std::vector<std::string>{"0 1 993 home.example.com."});
    EXPECT_EQ(find(*p, "_imap._tcp", "SRV")->records, std::vector<std::string>{"0 0 0 ."});
    EXPECT_FALSE(find(*p, "home", "A")) << "splitmail-ddns owns the home's addresses";
}

// Issue 16: with the relay's IMAP pass-through on (relay.toml imap_proxy.listen), clients are
// sent to imap.<domain>, which is the relay; home's own name stays with splitmail-ddns.
TEST(DnsPlan, ImapPassThroughPointsImapAtTheRelay) {
    dns_fixture f;
    f.s.imap_host = "home.example.com";
    std::ofstream(f.s.relay_config, std::ios::app) << "[imap_proxy]\nlisten = [\"0.0.0.0:993\"]\n";
    auto p = make_plan(f.s, "example.com");
    ASSERT_TRUE(p) << p.error();
    ASSERT_TRUE(find(*p, "_imaps._tcp", "SRV"));
    EXPECT_EQ(find(*p, "_imaps._tcp", "SRV")->records,
              std::vector<std::string>{"0 1 993 imap.example.com."});
    ASSERT_TRUE(find(*p, "imap", "A"));
    EXPECT_EQ(find(*p, "imap", "A")->records, std::vector<std::string>{"192.0.2.10"});
    ASSERT_TRUE(find(*p, "imap", "AAAA"));
    EXPECT_EQ(find(*p, "imap", "AAAA")->records, std::vector<std::string>{"2001:db8::10"});
    EXPECT_FALSE(find(*p, "home", "A")) << "splitmail-ddns owns the home's addresses";
    // imap.<domain> cannot be both the relay (plan) and home (ddns).
    f.s.imap_host = "imap.example.com";
    auto clash = make_plan(f.s, "example.com");
    ASSERT_FALSE(clash);
    EXPECT_NE(clash.error().find("site.imap_host"), std::string::npos) << clash.error();
}

// Issue 16 bug 2: whatever splitmail-ddns maintains is never pruned, with or without imap_host.
TEST(DnsPlan, DdnsNamesKeptWithAndWithoutImapHost) {
    using keys = std::vector<std::pair<std::string, std::string>>;
    dns_fixture f;
    f.s.domains = {"example.com", "example.org"};
    EXPECT_EQ(ddns_host(f.s), "home.example.com");
    EXPECT_EQ(ddns_rrsets(f.s, "example.com"), (keys{{"home", "A"}, {"home", "AAAA"}}));
    EXPECT_TRUE(ddns_rrsets(f.s, "example.org").empty());
    f.s.imap_host = "mail.example.org";
    EXPECT_EQ(ddns_host(f.s), "mail.example.org");
    EXPECT_EQ(ddns_rrsets(f.s, "example.org"), (keys{{"mail", "A"}, {"mail", "AAAA"}}));
    f.s.imap_host = "example.com";
    EXPECT_EQ(ddns_rrsets(f.s, "example.com"), (keys{{"", "A"}, {"", "AAAA"}}));
}

TEST(DnsPlan, HostnameOutsideTheZoneAndSecondDomain) {
    dns_fixture f;
    f.keygen("example.org");
    f.s.domains = {"example.com", "example.org"};
    auto p = make_plan(f.s, "example.org");
    ASSERT_TRUE(p) << p.error();
    EXPECT_EQ(find(*p, "", "MX")->records, std::vector<std::string>{"10 mx.example.com."});
    for (const auto& r : p->rrsets) {
        EXPECT_NE(r.type, "A");
        EXPECT_NE(r.type, "TLSA");
    }
    // Reports of example.org go to example.com: allowed there (RFC 7489 7.1).
    auto primary = make_plan(f.s, "example.com");
    ASSERT_TRUE(primary) << primary.error();
    ASSERT_TRUE(find(*primary, "example.org._report._dmarc", "TXT"));
    EXPECT_EQ(find(*primary, "example.org._report._dmarc", "TXT")->records,
              std::vector<std::string>{"\"v=DMARC1\""});
    EXPECT_FALSE(find(*p, "example.com._report._dmarc", "TXT"));
}

TEST(DnsPlan, ApexHostnameAndIpv4Only) {
    dns_fixture f;
    f.s.hostname = "example.com";
    f.s.public_ipv6.clear();
    auto p = make_plan(f.s, "example.com");
    ASSERT_TRUE(p) << p.error();
    EXPECT_EQ(find(*p, "", "A")->records, std::vector<std::string>{"192.0.2.10"});
    EXPECT_FALSE(find(*p, "", "AAAA"));
    EXPECT_TRUE(find(*p, "_25._tcp", "TLSA"));
    EXPECT_EQ(txt_value(find(*p, "", "TXT")->records.at(0)), "v=spf1 ip4:192.0.2.10 -all");
}

TEST(DnsPlan, ErrorsNameWhatToFix) {
    {
        dns_fixture f;
        auto p = make_plan(f.s, "example.net");
        ASSERT_FALSE(p);
        EXPECT_NE(p.error().find("site.domains"), std::string::npos) << p.error();
    }
    {
        dns_fixture f;
        f.s.public_ipv4.clear();
        f.s.public_ipv6.clear();
        auto p = make_plan(f.s, "example.com");
        ASSERT_FALSE(p);
        EXPECT_NE(p.error().find("site.public_ipv4"), std::string::npos) << p.error();
    }
    {
        dns_fixture f;
        fs::remove_all(f.dir / "dkim/example.com");
        auto p = make_plan(f.s, "example.com");
        ASSERT_FALSE(p);
        EXPECT_NE(p.error().find("splitmail dkim keygen --domain example.com"), std::string::npos)
            << p.error();
    }
    {
        dns_fixture f;
        std::ofstream(f.dir / "tls/relay.crt") << "not a certificate\n";
        auto p = make_plan(f.s, "example.com");
        ASSERT_FALSE(p);
        EXPECT_NE(p.error().find("relay.crt"), std::string::npos) << p.error();
    }
    {
        dns_fixture f;
        std::ofstream(f.dir / "relay.toml")
            << dns_fixture::required_relay_keys << "[tls]\ncert = \"/x\"\nkey = \"/y\"\n";
        auto p = make_plan(f.s, "example.com");
        ASSERT_FALSE(p);
        EXPECT_NE(p.error().find("dkim.dir"), std::string::npos) << p.error();
    }
    {
        dns_fixture f;
        f.s.relay_config.clear();
        auto p = make_plan(f.s, "example.com");
        ASSERT_FALSE(p);
        EXPECT_NE(p.error().find("site.relay_config"), std::string::npos) << p.error();
    }
}

TEST(DnsZone, ExportHasAbsoluteNamesTtlAndClass) {
    dns_fixture f;
    auto p = make_plan(f.s, "example.com");
    ASSERT_TRUE(p) << p.error();
    const std::string z = zone_fragment(*p);
    std::istringstream lines(z);
    std::size_t records = 0;
    std::map<std::string, int> types;
    const std::regex entry(R"(^(\S+\.) +(\d+) IN ([A-Z]+) (.+)$)");
    for (std::string line; std::getline(lines, line);) {
        if (line.starts_with(";")) continue;
        std::smatch m;
        ASSERT_TRUE(std::regex_match(line, m, entry)) << line;
        EXPECT_TRUE(m[1].str().ends_with("example.com.")) << line;
        EXPECT_EQ(m[2].str(), "3600");
        ++types[m[3].str()];
        ++records;
    }
    std::size_t planned = 0;
    for (const auto& r : p->rrsets) planned += r.records.size();
    EXPECT_EQ(records, planned);
    EXPECT_EQ(types["MX"], 1);
    EXPECT_EQ(types["TLSA"], 1);
    EXPECT_TRUE(std::regex_search(
        z, std::regex("\n_25\\._tcp\\.mx\\.example\\.com\\. +3600 IN TLSA 3 1 1 " + f.spki_sha256 +
                      "\n")))
        << z;
    EXPECT_NE(z.find("; note: PTR"), std::string::npos);
    EXPECT_NE(zone_fragment(*p, 7200).find(" 7200 IN MX 10 mx.example.com.\n"), std::string::npos);
}

TEST(DnsZone, PlanTableUsesRelativeNames) {
    dns_fixture f;
    auto p = make_plan(f.s, "example.com");
    ASSERT_TRUE(p) << p.error();
    const std::string t = plan_table(*p);
    EXPECT_NE(t.find("  @ "), std::string::npos) << t;
    EXPECT_NE(t.find("MX    10 mx.example.com."), std::string::npos) << t;
    EXPECT_NE(t.find("note: PTR"), std::string::npos) << t;
}

} // namespace
} // namespace splitmail::provision::dns
