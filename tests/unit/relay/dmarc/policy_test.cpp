// DMARC (RFC 7489): Organizational Domains from the Public Suffix List (3.2), the record
// (6.3), the alignment matrix (3.1), policy selection with sp= and pct= (6.6.3, 6.6.4), several
// From: domains (6.6.1).
#include "dmarc/policy.hpp"

#include <gtest/gtest.h>

#include <filesystem>

using namespace splitmail::relay::dmarc;

namespace {

const suffix_list& psl() {
    static const suffix_list l =
        suffix_list::parse("// comment\n"
                           "com\nuk\nco.uk\ntest\n"
                           "*.ck\n!www.ck\n"
                           "blogspot.com // private section entries count too\n");
    return l;
}

lookup found(std::string txt) { return {lookup::status::found, {std::move(txt)}}; }
const lookup nothing{lookup::status::none, {}};

authenticated spf(std::string d) { return {true, std::move(d), {}}; }
authenticated dkim(std::string d) { return {false, "", {std::move(d)}}; }

} // namespace

TEST(dmarc_psl, organizational_domain_table) {
    const std::pair<std::string, std::string> rows[] = {
        {"example.com", "example.com"},
        {"mail.sub.example.com", "example.com"},
        {"Mail.Example.CO.UK.", "example.co.uk"},
        {"co.uk", "co.uk"},         // a public suffix is its own org domain
        {"a.b.foo.ck", "b.foo.ck"}, // *.ck: foo.ck is a suffix
        {"www.ck", "www.ck"},       // !www.ck: the suffix is ck
        {"x.www.ck", "www.ck"},
        {"me.blogspot.com", "me.blogspot.com"},
        {"host.unlisted", "host.unlisted"}, // implied "*" rule
        {"a.host.unlisted", "host.unlisted"},
    };
    for (const auto& [in, want] : rows) EXPECT_EQ(psl().organizational_domain(in), want) << in;
}

TEST(dmarc_psl, debian_list_loads) {
    if (!std::filesystem::exists(default_psl_path))
        GTEST_SKIP() << default_psl_path << " missing: install Debian's publicsuffix package";
    auto l = suffix_list::load(std::string(default_psl_path));
    ASSERT_TRUE(l) << l.error();
    EXPECT_GT(l->size(), 5000u);
    EXPECT_EQ(l->organizational_domain("a.b.example.co.uk"), "example.co.uk");
    EXPECT_EQ(l->organizational_domain("mail.google.com"), "google.com");
}

TEST(dmarc_record, parse_table) {
    auto r =
        parse_record("v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=r; pct=20; rua=mailto:x@y");
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->p, policy::reject);
    EXPECT_EQ(r->sp, policy::quarantine);
    EXPECT_TRUE(r->adkim_strict);
    EXPECT_FALSE(r->aspf_strict);
    EXPECT_EQ(r->pct, 20);
    auto d = parse_record("v=DMARC1; p=quarantine");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->sp, policy::quarantine); // sp defaults to p
    EXPECT_EQ(d->pct, 100);
    for (const char* bad :
         {"p=reject; v=DMARC1", "v=DMARC2; p=none", "v=DMARC1", "v=DMARC1; p=drop",
          "v=DMARC1; p=none; pct=101", "v=DMARC1; p=none; adkim=x", "v=DMARC1; p=none; pct=-1",
          "v=DMARC1;; p=none"})
        EXPECT_FALSE(parse_record(bad)) << bad;
}

TEST(dmarc_record, select) {
    std::string why;
    EXPECT_TRUE(select_record({lookup::status::found, {"v=spf1 -all", "v=DMARC1; p=none"}}, why));
    EXPECT_FALSE(select_record({lookup::status::found, {"v=spf1 -all"}}, why));
    EXPECT_EQ(why, "no DMARC record");
    EXPECT_FALSE(
        select_record({lookup::status::found, {"v=DMARC1; p=none", "v=DMARC1; p=reject"}}, why));
    EXPECT_EQ(why, "more than one DMARC record");
}

// RFC 7489 3.1: alignment matrix, relaxed and strict, SPF and DKIM.
TEST(dmarc_evaluate, alignment_matrix) {
    struct row {
        std::string rec;
        authenticated auth;
        result want;
    };
    const row rows[] = {
        {"v=DMARC1; p=reject", spf("example.com"), result::pass},
        {"v=DMARC1; p=reject", spf("bounce.example.com"), result::pass},         // relaxed
        {"v=DMARC1; p=reject; aspf=s", spf("bounce.example.com"), result::fail}, // strict
        {"v=DMARC1; p=reject; aspf=s", spf("mail.example.com"), result::pass},
        {"v=DMARC1; p=reject", dkim("example.com"), result::pass},
        {"v=DMARC1; p=reject", dkim("sub.example.com"), result::pass},
        {"v=DMARC1; p=reject; adkim=s", dkim("example.com"), result::fail},
        {"v=DMARC1; p=reject", dkim("example.net"), result::fail},
        {"v=DMARC1; p=reject", spf("evil.com"), result::fail},
        {"v=DMARC1; p=reject", authenticated{false, "example.com", {}},
         result::fail}, // SPF not pass
        {"v=DMARC1; p=reject", dkim("other.co.uk"), result::fail},
    };
    for (const auto& r : rows) {
        auto o = evaluate("mail.example.com", found(r.rec), nothing, r.auth, psl(), 0);
        EXPECT_EQ(o.code, r.want) << r.rec << " spf=" << r.auth.spf_domain;
        if (o.code == result::fail) {
            EXPECT_EQ(o.applied, policy::reject);
        }
    }
    // co.uk: example.co.uk and other.co.uk are different organisations.
    auto o = evaluate("example.co.uk", found("v=DMARC1; p=reject"), nothing, dkim("other.co.uk"),
                      psl(), 0);
    EXPECT_EQ(o.code, result::fail);
}

// RFC 7489 6.6.3: the Organizational Domain's record, with sp= for subdomains.
TEST(dmarc_evaluate, org_record_and_sp) {
    auto o = evaluate("a.example.com", nothing, found("v=DMARC1; p=reject; sp=quarantine"),
                      spf("evil.test"), psl(), 0);
    EXPECT_EQ(o.code, result::fail);
    EXPECT_EQ(o.published, policy::quarantine);
    EXPECT_EQ(o.applied, policy::quarantine);
    o = evaluate("example.com", found("v=DMARC1; p=reject; sp=none"), nothing, spf("evil.test"),
                 psl(), 0);
    EXPECT_EQ(o.applied, policy::reject);
    o = evaluate("example.com", nothing, found("v=DMARC1; p=reject"), spf("evil.test"), psl(), 0);
    EXPECT_EQ(o.code, result::none) << "the org lookup is only for subdomains";
    o = evaluate("example.com", {lookup::status::temp_error, {}}, nothing, spf("x"), psl(), 0);
    EXPECT_EQ(o.code, result::temperror);
    o = evaluate("example.com", found("v=DMARC1; p=bogus"), nothing, spf("x"), psl(), 0);
    EXPECT_EQ(o.code, result::permerror);
}

// RFC 7489 6.6.4: pct= sampling; outside the sample the next lower policy.
TEST(dmarc_evaluate, pct) {
    const auto rec = found("v=DMARC1; p=reject; pct=30");
    EXPECT_EQ(evaluate("example.com", rec, nothing, spf("x.test"), psl(), 29).applied,
              policy::reject);
    EXPECT_EQ(evaluate("example.com", rec, nothing, spf("x.test"), psl(), 30).applied,
              policy::quarantine);
    const auto q = found("v=DMARC1; p=quarantine; pct=0");
    EXPECT_EQ(evaluate("example.com", q, nothing, spf("x.test"), psl(), 0).applied, policy::none);
}

// RFC 7489 6.6.1: every From: domain; the strictest outcome wins.
TEST(dmarc_evaluate, from_domains_and_strictest) {
    EXPECT_EQ(from_domains("From: A <a@Example.COM>, b@example.com, c@other.test\r\n\r\n"),
              (std::vector<std::string>{"example.com", "other.test"}));
    EXPECT_TRUE(from_domains("From: a@x.test\r\nFrom: b@y.test\r\n\r\n").empty());
    EXPECT_TRUE(from_domains("Subject: none\r\n\r\n").empty());
    outcome pass{result::pass, policy::none, policy::none, "a", "", {}, "", false, false};
    outcome quarantine{result::fail, policy::quarantine, policy::quarantine, "b", "", {}, "", false,
                       false};
    outcome reject{result::fail, policy::reject, policy::reject, "c", "", {}, "", false, false};
    EXPECT_EQ(strictest({pass, reject, quarantine}).from_domain, "c");
    EXPECT_EQ(strictest({pass, quarantine}).from_domain, "b");
}
