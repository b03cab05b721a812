// SPF (RFC 7208): record syntax (4.6, 12), macros (7), limits (4.6.4), identities (2.3, 2.4),
// record selection (4.5) and results (2.6) over a table-driven fake DNS.
#include "splitmail/spf/evaluator.hpp"
#include "splitmail/spf/received_spf.hpp"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

using namespace splitmail::spf;

namespace {

struct fake_dns final : dns_client {
    // name -> type -> answer; a missing name is NXDOMAIN, a missing type NOERROR/no data.
    std::map<std::string, std::map<rr_type, dns_answer>> zone;
    std::vector<std::string> asked;

    void add(const std::string& name, rr_type t, std::vector<std::string> recs) {
        zone[name][t] = {dns_status::ok, std::move(recs)};
    }
    void fail(const std::string& name, rr_type t) { zone[name][t] = {dns_status::temp_error, {}}; }
    dns_answer query(std::string_view name, rr_type t) override {
        asked.emplace_back(name);
        auto it = zone.find(std::string(name));
        if (it == zone.end()) return {dns_status::nxdomain, {}};
        auto jt = it->second.find(t);
        if (jt == it->second.end()) return {dns_status::no_data, {}};
        return jt->second;
    }
};

ip_address ip(const char* s) { return *parse_ip(s); }

evaluation mail_from(fake_dns& dns, const char* addr, const char* sender,
                     const char* helo = "mx.example.org", options opt = {}) {
    return check_mail_from(dns, ip(addr), sender, helo, opt);
}

std::string expand(std::string_view text, const char* sender, const char* addr,
                   macro_syntax syntax = macro_syntax::domain_spec) {
    auto m = parse_macro_string(text, syntax);
    EXPECT_TRUE(m.has_value()) << text;
    if (!m) return {};
    std::string s(sender);
    auto at = s.rfind('@');
    std::string local = s.substr(0, at), dom = s.substr(at + 1);
    auto a = ip(addr);
    macro_context c;
    c.sender = s;
    c.local = local;
    c.sender_domain = dom;
    c.domain = dom;
    c.ip = &a;
    c.helo = "mx.example.org";
    c.receiver = "relay.example.net";
    c.now = 1700000000;
    return expand_macros(*m, c);
}

} // namespace

// RFC 7208 7.4: the examples, with sender strong-bad@email.example.com and 192.0.2.3.
TEST(SpfMacro, Rfc7208Examples) {
    const char* s = "strong-bad@email.example.com";
    EXPECT_EQ(expand("%{s}", s, "192.0.2.3"), "strong-bad@email.example.com");
    EXPECT_EQ(expand("%{o}", s, "192.0.2.3"), "email.example.com");
    EXPECT_EQ(expand("%{d}", s, "192.0.2.3"), "email.example.com");
    EXPECT_EQ(expand("%{d4}", s, "192.0.2.3"), "email.example.com");
    EXPECT_EQ(expand("%{d3}", s, "192.0.2.3"), "email.example.com");
    EXPECT_EQ(expand("%{d2}", s, "192.0.2.3"), "example.com");
    EXPECT_EQ(expand("%{d1}", s, "192.0.2.3"), "com");
    EXPECT_EQ(expand("%{dr}", s, "192.0.2.3"), "com.example.email");
    EXPECT_EQ(expand("%{d2r}", s, "192.0.2.3"), "example.email");
    EXPECT_EQ(expand("%{l}", s, "192.0.2.3"), "strong-bad");
    EXPECT_EQ(expand("%{l-}", s, "192.0.2.3"), "strong.bad");
    EXPECT_EQ(expand("%{lr}", s, "192.0.2.3"), "strong-bad");
    EXPECT_EQ(expand("%{lr-}", s, "192.0.2.3"), "bad.strong");
    EXPECT_EQ(expand("%{l1r-}", s, "192.0.2.3"), "strong");
    EXPECT_EQ(expand("%{ir}.%{v}._spf.%{d2}", s, "192.0.2.3"),
              "3.2.0.192.in-addr._spf.example.com");
    EXPECT_EQ(expand("%{lr-}.lp._spf.%{d2}", s, "192.0.2.3"), "bad.strong.lp._spf.example.com");
    EXPECT_EQ(expand("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", s, "192.0.2.3"),
              "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
    EXPECT_EQ(expand("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", s, "192.0.2.3"),
              "3.2.0.192.in-addr.strong.lp._spf.example.com");
    EXPECT_EQ(expand("%{d2}.trusted-domains.example.net", s, "192.0.2.3"),
              "example.com.trusted-domains.example.net");
    EXPECT_EQ(
        expand("%{ir}.%{v}._spf.%{d2}", s, "2001:db8::cb01"),
        "1.0.B.C.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.ip6._spf.example.com");
}

TEST(SpfMacro, EscapesUrlEncodingAndExplanationLetters) {
    EXPECT_EQ(expand("a%%b%_c%-d", "x@example.com", "192.0.2.3"), "a%b c%20d");
    // RFC 7208 7.3: upper-case letters are URL-escaped; unreserved characters stay.
    EXPECT_EQ(expand("%{L}", "~jack&jill=up-a_b3.c@example.com", "192.0.2.3"),
              "~jack%26jill%3Dup-a_b3.c");
    EXPECT_EQ(
        expand("%{c} %{r} %{t}", "x@example.com", "2001:db8::1", macro_syntax::explain_string),
        "2001:db8::1 relay.example.net 1700000000");
    // 7.2: c, r, t only in explanations; spaces only there too.
    EXPECT_FALSE(parse_macro_string("%{c}.example.com", macro_syntax::domain_spec));
    EXPECT_FALSE(parse_macro_string("a b", macro_syntax::domain_spec));
    // 7.1: unknown letters, a zero part count, a lone '%', bad delimiters are errors.
    for (const char* bad : {"%{a}", "%{d0}", "%", "x%y", "%{d2r!}", "%{", "%{}", "%{ d}"})
        EXPECT_FALSE(parse_macro_string(bad, macro_syntax::explain_string)) << bad;
    // More parts asked for than there are: all of them.
    EXPECT_EQ(expand("%{d99}", "x@a.example.com", "192.0.2.3"), "a.example.com");
}

TEST(SpfRecord, Syntax) {
    auto r = parse_record("v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a mx/24//64 "
                          "-include:_spf.example.com ~all exp=explain.%{d} redirect=x.example.com");
    ASSERT_TRUE(r) << r.error();
    ASSERT_EQ(r->mechanisms.size(), 6u);
    EXPECT_EQ(r->mechanisms[0].cidr4, 24u);
    EXPECT_EQ(r->mechanisms[1].cidr6, 32u);
    EXPECT_EQ(r->mechanisms[3].cidr4, 24u);
    EXPECT_EQ(r->mechanisms[3].cidr6, 64u);
    EXPECT_EQ(r->mechanisms[4].q, qualifier::fail);
    EXPECT_TRUE(r->redirect && r->exp);
    EXPECT_TRUE(parse_record("V=SPF1 A:Example.COM ALL"));
    EXPECT_TRUE(parse_record("v=spf1 foo=bar%{d} -all"));      // unknown modifier: ignored
    EXPECT_TRUE(parse_record("v=spf1 a:foo/bar.example.com")); // '/' is a macro-literal
    for (const char* bad : {"v=spf1 ip4:192.0.2.0/33",
                            "v=spf1 ip4:192.0.2.0/024",
                            "v=spf1 ip6:2001:db8::/129",
                            "v=spf1 a:example.com/",
                            "v=spf1 ip4:1.2.3",
                            "v=spf1 include",
                            "v=spf1 include:",
                            "v=spf1 exists:",
                            "v=spf1 a:1.2.3.4",
                            "v=spf1 a:example",
                            "v=spf1 foo:bar",
                            "v=spf1 redirect=a.example.com redirect=b.example.com",
                            "v=spf1 exp=a.example.com exp=b.example.com",
                            "v=spf1 all/24",
                            "v=spf1 -all:x",
                            "v=spf1 a:%{c}.example.com",
                            "v=spf1 ptr/24",
                            "v=spf1 a:exa\xc3\xa9mple.com",
                            "v=spf1 =bar",
                            "v=spf1 ip4:192.0.2.1/-1"})
        EXPECT_FALSE(parse_record(bad)) << bad;
    EXPECT_TRUE(is_spf_record("v=spf1"));
    EXPECT_FALSE(is_spf_record("v=spf10 -all"));
    EXPECT_FALSE(is_spf_record("v=spf2.0/pra -all"));
}

TEST(SpfIp, MappedAddressesAreIpv4AndPrefixes) {
    auto m = parse_ip("::ffff:192.0.2.1");
    ASSERT_TRUE(m);
    EXPECT_FALSE(m->v6);
    EXPECT_TRUE(same_prefix(*m, ip("192.0.2.200"), 24));
    EXPECT_FALSE(same_prefix(*m, ip("192.0.3.1"), 24));
    EXPECT_TRUE(same_prefix(ip("2001:db8::1"), ip("2001:db8:ffff::"), 32));
    EXPECT_FALSE(same_prefix(ip("2001:db8::1"), ip("2001:db9::"), 32));
    EXPECT_TRUE(same_prefix(ip("10.0.0.1"), ip("192.0.2.1"), 0));
    EXPECT_EQ(reverse_name(ip("192.0.2.3")), "3.2.0.192.in-addr.arpa");
}

TEST(SpfEval, ResultsAndQualifiers) {
    fake_dns dns;
    dns.add("example.com", rr_type::txt,
            {"v=spf1 ip4:192.0.2.0/24 ?ip4:198.51.100.1 ~ip4:203.0.113.1 -all"});
    EXPECT_EQ(mail_from(dns, "192.0.2.9", "a@example.com").code, result::pass);
    EXPECT_EQ(mail_from(dns, "198.51.100.1", "a@example.com").code, result::neutral);
    EXPECT_EQ(mail_from(dns, "203.0.113.1", "a@example.com").code, result::softfail);
    auto f = mail_from(dns, "203.0.113.2", "a@example.com");
    EXPECT_EQ(f.code, result::fail);
    EXPECT_EQ(f.mechanism, "-all");
    EXPECT_FALSE(f.explanation.empty());
    EXPECT_EQ(mail_from(dns, "192.0.2.9", "a@nothing.example").code, result::none);
    dns.add("multi.example", rr_type::txt, {"v=spf1 -all", "v=spf1 +all"});
    EXPECT_EQ(mail_from(dns, "192.0.2.9", "a@multi.example").code, result::permerror);
    dns.add("other.example", rr_type::txt, {"v=spf10 +all", "google-site-verification=x"});
    EXPECT_EQ(mail_from(dns, "192.0.2.9", "a@other.example").code, result::none);
    dns.fail("tmp.example", rr_type::txt);
    EXPECT_EQ(mail_from(dns, "192.0.2.9", "a@tmp.example").code, result::temperror);
    dns.add("nomatch.example", rr_type::txt, {"v=spf1 ip4:10.0.0.1"});
    EXPECT_EQ(mail_from(dns, "192.0.2.9", "a@nomatch.example").code, result::neutral);
}

TEST(SpfEval, HeloIdentityAndNullSender) {
    fake_dns dns;
    dns.add("mx.example.org", rr_type::txt, {"v=spf1 a -all"});
    dns.add("mx.example.org", rr_type::a, {"192.0.2.7"});
    dns.add("postmaster-test.example", rr_type::txt, {"v=spf1 exists:%{l}.x.example -all"});
    // RFC 7208 2.4: the null reverse-path is checked as postmaster@HELO.
    EXPECT_EQ(mail_from(dns, "192.0.2.7", "").code, result::pass);
    EXPECT_EQ(mail_from(dns, "192.0.2.8", "").code, result::fail);
    EXPECT_EQ(check_helo(dns, ip("192.0.2.7"), "mx.example.org").code, result::pass);
    // 4.3: not a domain -> none, no DNS asked.
    dns.asked.clear();
    EXPECT_EQ(check_helo(dns, ip("192.0.2.7"), "[192.0.2.7]").code, result::none);
    EXPECT_EQ(check_helo(dns, ip("192.0.2.7"), "192.0.2.7").code, result::none);
    EXPECT_EQ(check_helo(dns, ip("192.0.2.7"), "localhost").code, result::none);
    EXPECT_TRUE(dns.asked.empty());
    // 4.3: no local-part -> postmaster.
    dns.add("postmaster.x.example", rr_type::a, {"127.0.0.2"});
    EXPECT_EQ(mail_from(dns, "192.0.2.7", "@postmaster-test.example").code, result::pass);
}

// RFC 7208 4.6.4: the 11th DNS-querying term is a permerror, counted across includes.
TEST(SpfEval, TenLookupLimit) {
    fake_dns dns;
    std::string rec = "v=spf1";
    for (int i = 0; i < 10; ++i) {
        std::string name = "i" + std::to_string(i) + ".example.com";
        rec += " include:" + name;
        dns.add(name, rr_type::txt, {"v=spf1 ip4:10.0.0." + std::to_string(i)});
    }
    dns.add("ten.example.com", rr_type::txt, {rec + " ip4:192.0.2.1 -all"});
    dns.add("eleven.example.com", rr_type::txt, {rec + " a:x.example.com ip4:192.0.2.1 -all"});
    dns.add("x.example.com", rr_type::a, {"198.51.100.1"});
    EXPECT_EQ(mail_from(dns, "192.0.2.1", "a@ten.example.com").code, result::pass);
    auto e = mail_from(dns, "192.0.2.1", "a@eleven.example.com");
    EXPECT_EQ(e.code, result::permerror);
    EXPECT_NE(e.problem.find("4.6.4"), std::string::npos);
    // An include loop ends at the limit too.
    dns.add("loop.example.com", rr_type::txt, {"v=spf1 include:loop.example.com -all"});
    dns.asked.clear();
    EXPECT_EQ(mail_from(dns, "192.0.2.1", "a@loop.example.com").code, result::permerror);
    EXPECT_LE(dns.asked.size(), 12u);
    // ip4/ip6/all do not count.
    std::string many = "v=spf1";
    for (int i = 0; i < 30; ++i) many += " ip4:10.1.0." + std::to_string(i);
    dns.add("many.example.com", rr_type::txt, {many + " a:x.example.com -all"});
    EXPECT_EQ(mail_from(dns, "198.51.100.1", "a@many.example.com").code, result::pass);
}

TEST(SpfEval, VoidLookupLimit) {
    fake_dns dns;
    dns.add("v2.example.com", rr_type::txt, {"v=spf1 a:n1.example.com a:n2.example.com +all"});
    dns.add("v3.example.com", rr_type::txt,
            {"v=spf1 a:n1.example.com mx:n2.example.com exists:n3.example.com +all"});
    EXPECT_EQ(mail_from(dns, "192.0.2.1", "a@v2.example.com").code, result::pass);
    EXPECT_EQ(mail_from(dns, "192.0.2.1", "a@v3.example.com").code, result::permerror);
    options lax;
    lax.void_limit = 5;
    EXPECT_EQ(mail_from(dns, "192.0.2.1", "a@v3.example.com", "h.example", lax).code, result::pass);
}

TEST(SpfEval, MxAndPtrNameLimits) {
    fake_dns dns;
    std::vector<std::string> mx10, mx11;
    for (int i = 0; i < 11; ++i) {
        std::string host = "m" + std::to_string(i) + ".example.com";
        dns.add(host, rr_type::a, {"10.0.0." + std::to_string(i)});
        (i < 10 ? mx10 : mx11).push_back(host);
        mx11.push_back(host);
    }
    mx11.resize(11);
    dns.add("mx10.example.com", rr_type::mx, mx10);
    dns.add("mx11.example.com", rr_type::mx, mx11);
    dns.add("s10.example.com", rr_type::txt, {"v=spf1 mx:mx10.example.com -all"});
    dns.add("s11.example.com", rr_type::txt, {"v=spf1 mx:mx11.example.com -all"});
    EXPECT_EQ(mail_from(dns, "10.0.0.9", "a@s10.example.com").code, result::pass);
    EXPECT_EQ(mail_from(dns, "10.0.0.9", "a@s11.example.com").code, result::permerror);
    // mx does not fall back to the domain's A record (RFC 7208 5.4).
    dns.add("nomx.example.com", rr_type::a, {"10.0.0.1"});
    dns.add("s12.example.com", rr_type::txt, {"v=spf1 mx:nomx.example.com -all"});
    EXPECT_EQ(mail_from(dns, "10.0.0.1", "a@s12.example.com").code, result::fail);

    // ptr: only the first 10 PTR names are looked at (RFC 7208 4.6.4).
    std::vector<std::string> names;
    for (int i = 0; i < 11; ++i) {
        std::string n = "h" + std::to_string(i) + ".ptr.example.com";
        names.push_back(n);
        dns.add(n, rr_type::a, {i == 10 ? "192.0.2.5" : "10.9.9.9"});
    }
    dns.add("5.2.0.192.in-addr.arpa", rr_type::ptr, names);
    dns.add("p.example.com", rr_type::txt, {"v=spf1 ptr:ptr.example.com -all"});
    EXPECT_EQ(mail_from(dns, "192.0.2.5", "a@p.example.com").code, result::fail);
    names.erase(names.begin());
    dns.add("5.2.0.192.in-addr.arpa", rr_type::ptr, names);
    EXPECT_EQ(mail_from(dns, "192.0.2.5", "a@p.example.com").code, result::pass);
    // A PTR error never gives temperror (5.5).
    dns.fail("6.2.0.192.in-addr.arpa", rr_type::ptr);
    EXPECT_EQ(mail_from(dns, "192.0.2.6", "a@p.example.com").code, result::fail);
}

TEST(SpfEval, IncludeRedirectAndExplanation) {
    fake_dns dns;
    dns.add("top.example.com", rr_type::txt,
            {"v=spf1 include:inc.example.com exp=why.example.com redirect=red.example.com"});
    dns.add("inc.example.com", rr_type::txt, {"v=spf1 ip4:192.0.2.1 exp=inc-why.example.com -all"});
    dns.add("red.example.com", rr_type::txt, {"v=spf1 ip4:192.0.2.2 -all exp=red-why.example.com"});
    dns.add("why.example.com", rr_type::txt, {"top says no to %{i}"});
    dns.add("inc-why.example.com", rr_type::txt, {"include says no"});
    dns.add("red-why.example.com", rr_type::txt, {"%{d} refuses %{c}"});
    EXPECT_EQ(mail_from(dns, "192.0.2.1", "a@top.example.com").code, result::pass);
    EXPECT_EQ(mail_from(dns, "192.0.2.2", "a@top.example.com").code, result::pass);
    // The fail comes from the redirect target: its exp= is used, with %{d} its domain.
    auto f = mail_from(dns, "192.0.2.3", "a@top.example.com");
    EXPECT_EQ(f.code, result::fail);
    EXPECT_EQ(f.explanation, "red.example.com refuses 192.0.2.3");
    // include of a domain without SPF: permerror (5.2); temperror passes through.
    dns.add("bad-inc.example.com", rr_type::txt, {"v=spf1 include:none.example.com +all"});
    EXPECT_EQ(mail_from(dns, "192.0.2.1", "a@bad-inc.example.com").code, result::permerror);
    dns.fail("t.example.com", rr_type::txt);
    dns.add("t-inc.example.com", rr_type::txt, {"v=spf1 include:t.example.com +all"});
    EXPECT_EQ(mail_from(dns, "192.0.2.1", "a@t-inc.example.com").code, result::temperror);
    // redirect to no record: permerror (6.1); all beats redirect.
    dns.add("r-none.example.com", rr_type::txt, {"v=spf1 redirect=none.example.com"});
    EXPECT_EQ(mail_from(dns, "192.0.2.1", "a@r-none.example.com").code, result::permerror);
    dns.add("r-all.example.com", rr_type::txt, {"v=spf1 redirect=none.example.com ?all"});
    EXPECT_EQ(mail_from(dns, "192.0.2.1", "a@r-all.example.com").code, result::neutral);
    // Explanation text with a syntax error or several records: the default (6.2).
    dns.add("e.example.com", rr_type::txt, {"v=spf1 -all exp=e-why.example.com"});
    dns.add("e-why.example.com", rr_type::txt, {"bad %{x} macro"});
    options opt;
    opt.default_explanation = "default for %{d}";
    EXPECT_EQ(mail_from(dns, "192.0.2.1", "a@e.example.com", "h.example", opt).explanation,
              "default for e.example.com");
    dns.add("e-why.example.com", rr_type::txt, {"one", "two"});
    EXPECT_EQ(mail_from(dns, "192.0.2.1", "a@e.example.com", "h.example", opt).explanation,
              "default for e.example.com");
}

TEST(SpfEval, CidrOnAAndIpv6Clients) {
    fake_dns dns;
    dns.add("c.example.com", rr_type::txt, {"v=spf1 a:h.example.com/24//48 -all"});
    dns.add("h.example.com", rr_type::a, {"192.0.2.1"});
    dns.add("h.example.com", rr_type::aaaa, {"2001:db8:1::1"});
    EXPECT_EQ(mail_from(dns, "192.0.2.200", "a@c.example.com").code, result::pass);
    EXPECT_EQ(mail_from(dns, "192.0.3.1", "a@c.example.com").code, result::fail);
    EXPECT_EQ(mail_from(dns, "2001:db8:1:ffff::9", "a@c.example.com").code, result::pass);
    EXPECT_EQ(mail_from(dns, "2001:db8:2::1", "a@c.example.com").code, result::fail);
    // An IPv4-mapped client matches ip4 (RFC 7208 5).
    dns.add("m.example.com", rr_type::txt, {"v=spf1 ip4:192.0.2.0/24 -all"});
    EXPECT_EQ(mail_from(dns, "::ffff:192.0.2.9", "a@m.example.com").code, result::pass);
    // exists is always an A query.
    dns.add("x.example.com", rr_type::txt, {"v=spf1 exists:%{ir}.list.example.com -all"});
    dns.add("1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.B.D.0.1.0.0.2.list.example.com",
            rr_type::a, {"127.0.0.2"});
    EXPECT_EQ(mail_from(dns, "2001:db8::1", "a@x.example.com").code, result::pass);
}

// RFC 7208 9.1: Received-SPF keeps client text inside quoted-strings.
TEST(SpfReceived, HeaderSyntax) {
    evaluation ev;
    ev.code = result::pass;
    ev.mechanism = "ip4:192.0.2.0/24";
    auto h = received_spf_header(ev, {"mx.example.net", "192.0.2.1", "a@example.com",
                                      "evil\"; helo=x (y)\r\nX-Injected: 1", false});
    EXPECT_TRUE(h.starts_with("Received-SPF: pass (mx.example.net: domain of a@example.com "
                              "designates 192.0.2.1 as permitted sender)\r\n\treceiver="))
        << h;
    EXPECT_NE(h.find("\thelo=\"evil\\\"; helo=x (y)??X-Injected: 1\";"), std::string::npos) << h;
    EXPECT_NE(h.find("\tidentity=\"mailfrom\";"), std::string::npos);
    EXPECT_NE(h.find("\tmechanism=\"ip4:192.0.2.0/24\";"), std::string::npos);
    EXPECT_EQ(h.find("\r\nX-Injected"), std::string::npos);
    EXPECT_TRUE(h.ends_with(";\r\n"));
    ev.code = result::permerror;
    ev.mechanism.clear();
    ev.problem = "more than 10 DNS-querying terms (RFC 7208 4.6.4)";
    h = received_spf_header(ev, {"mx.example.net", "2001:db8::1", "", "h.example.org", true});
    EXPECT_TRUE(h.starts_with("Received-SPF: permerror (mx.example.net: error in processing "
                              "during lookup of postmaster@h.example.org)"))
        << h;
    EXPECT_NE(h.find("\tclient-ip=\"2001:db8::1\";"), std::string::npos);
    EXPECT_NE(h.find("\tproblem=\"more than 10"), std::string::npos);
}
