// DMARC aggregate reports (RFC 7489 7.1, 7.2, Appendix C): rua= parsing, the observation line
// codec, aggregation into the XML, gzip, the MIME message, external destinations, the
// per-period store and its caps.
#include "dmarc/external.hpp"
#include "dmarc/report.hpp"
#include "dmarc/store.hpp"

#include "support/temp_dir.hpp"

#include <gtest/gtest.h>
#include <zlib.h>

#include <fstream>

using namespace splitmail::relay::dmarc;

namespace {

const suffix_list& psl() {
    static const suffix_list l = suffix_list::parse("com\nuk\nco.uk\ntest\n");
    return l;
}

observation sample(std::string ip = "192.0.2.1", bool pass = true) {
    observation o;
    o.time = 1765000000;
    o.source_ip = std::move(ip);
    o.header_from = "example.com";
    o.envelope_from = "example.com";
    o.policy_domain = "example.com";
    o.spf_domain = "example.com";
    o.spf_result = pass ? "pass" : "fail";
    o.spf_aligned = pass;
    o.dkim_aligned = pass;
    o.disposition = pass ? policy::none : policy::reject;
    o.p = policy::reject;
    o.sp = policy::quarantine;
    o.pct = 50;
    o.adkim_strict = true;
    o.fo = "1";
    o.dkim = {{"example.com", "sel1", pass ? "pass" : "fail"}};
    o.rua = {{"dmarc@example.com", 0}, {"agg@reports.test", 10240}};
    return o;
}

std::string gunzip(const std::string& gz) {
    z_stream z{};
    EXPECT_EQ(inflateInit2(&z, 15 + 16), Z_OK);
    std::string out(1 << 20, '\0');
    z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
    z.avail_in = static_cast<uInt>(gz.size());
    z.next_out = reinterpret_cast<Bytef*>(out.data());
    z.avail_out = static_cast<uInt>(out.size());
    EXPECT_EQ(inflate(&z, Z_FINISH), Z_STREAM_END);
    out.resize(z.total_out);
    inflateEnd(&z);
    return out;
}

std::size_t occurrences(const std::string& hay, const std::string& needle) {
    std::size_t n = 0;
    for (auto at = hay.find(needle); at != std::string::npos; at = hay.find(needle, at + 1)) ++n;
    return n;
}

} // namespace

TEST(dmarc_rua, mailto_only_with_sizes) {
    auto u =
        parse_rua("mailto:a@Example.COM, https://x.test/r ,mailto:b@c.test!10m,"
                  "mailto:c@d.test!50,mailto:bad,mailto:x%2By@e.test!2k , mailto:a@example.com");
    ASSERT_EQ(u.size(), 4u);
    EXPECT_EQ(u[0], (report_uri{"a@example.com", 0}));
    EXPECT_EQ(u[1], (report_uri{"b@c.test", 10u << 20}));
    EXPECT_EQ(u[2], (report_uri{"c@d.test", 50}));
    EXPECT_EQ(u[3], (report_uri{"x+y@e.test", 2048}));
    EXPECT_TRUE(parse_rua("").empty());
    EXPECT_TRUE(parse_rua("mailto:a@b.test!").empty());  // size without digits
    EXPECT_TRUE(parse_rua("mailto:a@b.test!0").empty()); // a zero limit is no destination
    EXPECT_TRUE(parse_rua("mailto:a@b.test!12x").empty());
    EXPECT_TRUE(parse_rua("mailto:@b.test,mailto:a@,mailto:a%zz@b.test").empty());
    EXPECT_EQ(parse_rua("MAILTO:r@b.test?subject=x").at(0).address, "r@b.test");
}

TEST(dmarc_rua, record_tags) {
    auto r = parse_record("v=DMARC1; p=none; rua=mailto:r@x.test,mailto:s@y.test!1g; "
                          "ruf=mailto:f@x.test; ri=3600; fo=1:d; rf=afrf");
    ASSERT_TRUE(r) << r.error();
    ASSERT_EQ(r->rua.size(), 2u);
    EXPECT_EQ(r->rua[1].max_size, 1ull << 30);
    EXPECT_EQ(r->ri, 3600u);
    EXPECT_EQ(r->fo, "1:d");
    auto d = parse_record("v=DMARC1; p=none; ri=x");
    ASSERT_TRUE(d);
    EXPECT_EQ(d->ri, 86400u); // a bad ri= is ignored, not an error
    EXPECT_EQ(d->fo, "0");
    EXPECT_TRUE(d->rua.empty());
}

TEST(dmarc_rua, outcome_carries_the_record) {
    auto o = evaluate("news.example.com", {},
                      {lookup::status::found, {"v=DMARC1; p=reject; rua=mailto:r@example.com"}},
                      {true, "example.com", {}}, psl(), 0);
    EXPECT_EQ(o.code, result::pass);
    ASSERT_TRUE(o.rec);
    EXPECT_EQ(o.policy_domain, "example.com"); // found at the Organizational Domain
    EXPECT_TRUE(o.spf_aligned);
    EXPECT_FALSE(o.dkim_aligned);
    EXPECT_EQ(o.rec->rua.at(0).address, "r@example.com");
}

TEST(dmarc_observation, round_trip) {
    observation o = sample();
    o.header_from = "we ird;,%-.test";
    o.fo = "-";
    o.dkim.push_back({"d.test", "", "temperror"});
    o.spf_helo = true;
    o.reason = override_reason::sampled_out;
    const auto line = encode(o);
    EXPECT_EQ(line.find('\n'), std::string::npos);
    auto back = decode(line);
    ASSERT_TRUE(back) << back.error() << "\n" << line;
    EXPECT_EQ(*back, o);
    observation empty = sample();
    empty.dkim.clear();
    empty.rua.clear();
    empty.fo.clear();
    empty.envelope_from.clear();
    auto e = decode(encode(empty));
    ASSERT_TRUE(e) << e.error();
    EXPECT_EQ(*e, empty);
}

TEST(dmarc_observation, rejects) {
    const auto good = encode(sample());
    EXPECT_TRUE(decode(good));
    auto with = [&](std::size_t field, std::string v) {
        std::vector<std::string> f;
        std::string cur;
        for (char c : good) {
            if (c == ' ') {
                f.push_back(cur);
                cur.clear();
            } else {
                cur += c;
            }
        }
        f.push_back(cur);
        f.at(field) = std::move(v);
        std::string out;
        for (const auto& x : f) out += (out.empty() ? "" : " ") + x;
        return out;
    };
    EXPECT_FALSE(decode(""));
    EXPECT_FALSE(decode("3" + good.substr(1)));
    EXPECT_FALSE(decode(with(19, "forwarded"))); // a reason this receiver never writes
    EXPECT_FALSE(decode(with(19, "-")));
    // A version 1 line (before REASON): still read, reason none; with 20 fields it is wrong.
    const auto v1 = "1" + good.substr(1, good.rfind(' ') - 1);
    auto old = decode(v1);
    ASSERT_TRUE(old) << old.error() << "\n" << v1;
    EXPECT_EQ(old->reason, override_reason::none);
    EXPECT_EQ(*old, sample());
    EXPECT_FALSE(decode("1" + good.substr(1)));
    EXPECT_FALSE(decode(good + " extra"));
    EXPECT_FALSE(decode(with(1, "-5")));
    EXPECT_FALSE(decode(with(2, "-")));         // no source IP
    EXPECT_FALSE(decode(with(7, "both")));      // scope
    EXPECT_FALSE(decode(with(8, "softpass")));  // SPF result
    EXPECT_FALSE(decode(with(9, "px")));        // alignment
    EXPECT_FALSE(decode(with(10, "drop")));     // disposition
    EXPECT_FALSE(decode(with(13, "101")));      // pct
    EXPECT_FALSE(decode(with(14, "x")));        // adkim
    EXPECT_FALSE(decode(with(17, "d.test;s"))); // DKIM item
    EXPECT_FALSE(decode(with(17, "d.test;s;ok")));
    EXPECT_FALSE(decode(with(18, "a@b.test;x")));
    EXPECT_FALSE(decode(with(3, "a%4")));  // broken escape
    EXPECT_FALSE(decode(with(3, "a\tb"))); // a raw control character
}

TEST(dmarc_report, aggregates_per_domain_and_row) {
    std::vector<observation> all{sample(), sample(), sample("2001:db8::1", false), sample()};
    observation sampled = sample("2001:db8::1", false);
    sampled.disposition = policy::quarantine;
    sampled.reason = override_reason::sampled_out;
    all.push_back(sampled); // its own row: same source, another disposition and reason
    observation other = sample("198.51.100.7");
    other.policy_domain = other.header_from = "other.test";
    other.rua = {{"r@other.test", 0}};
    all.push_back(other);
    report_meta meta{"Org & Co", "dmarc-noreply@mx.test", "mx.test", 1764979200, 1765065599};
    auto reps = build_reports(all, meta);
    ASSERT_EQ(reps.size(), 2u);
    const auto& r = reps[0];
    EXPECT_EQ(r.policy_domain, "example.com");
    EXPECT_EQ(r.messages, 5u);
    EXPECT_EQ(r.rua.size(), 2u);
    EXPECT_NE(r.xml.find("<org_name>Org &amp; Co</org_name>"), std::string::npos) << r.xml;
    EXPECT_NE(r.xml.find("<begin>1764979200</begin>"), std::string::npos);
    EXPECT_NE(r.xml.find("<end>1765065599</end>"), std::string::npos);
    EXPECT_EQ(occurrences(r.xml, "<record>"), 3u);
    EXPECT_EQ(occurrences(r.xml, "<reason>"), 1u);
    EXPECT_NE(r.xml.find("<disposition>quarantine</disposition>\n        <dkim>fail</dkim>\n"
                         "        <spf>fail</spf>\n        <reason>\n"
                         "          <type>sampled_out</type>\n        </reason>\n"),
              std::string::npos)
        << r.xml;
    EXPECT_NE(r.xml.find("<source_ip>192.0.2.1</source_ip>\n      <count>3</count>"),
              std::string::npos)
        << r.xml;
    // The schema's IPAddress pattern knows no "::".
    EXPECT_NE(r.xml.find("<source_ip>2001:db8:0:0:0:0:0:1</source_ip>\n      <count>1</count>"),
              std::string::npos)
        << r.xml;
    EXPECT_NE(r.xml.find("<disposition>reject</disposition>"), std::string::npos);
    EXPECT_NE(r.xml.find("<p>reject</p>"), std::string::npos);
    EXPECT_NE(r.xml.find("<sp>quarantine</sp>"), std::string::npos);
    EXPECT_NE(r.xml.find("<pct>50</pct>"), std::string::npos);
    EXPECT_NE(r.xml.find("<adkim>s</adkim>"), std::string::npos);
    EXPECT_NE(r.xml.find("<fo>1</fo>"), std::string::npos);
    EXPECT_NE(r.xml.find("<selector>sel1</selector>"), std::string::npos);
    EXPECT_EQ(reps[1].policy_domain, "other.test");
    EXPECT_EQ(reps[1].messages, 1u);
    // Deterministic: the same input gives the same report.
    EXPECT_EQ(build_reports(all, meta)[0].xml, r.xml);
    std::reverse(all.begin(), all.end());
    EXPECT_EQ(build_reports(all, meta)[0].xml, r.xml);
}

TEST(dmarc_report, escapes_everything) {
    observation o = sample();
    o.header_from = "<x>&\"'";
    auto reps = build_reports(std::vector<observation>{o}, {"o", "e", "r", 0, 1});
    ASSERT_EQ(reps.size(), 1u);
    EXPECT_NE(reps[0].xml.find("<header_from>&lt;x&gt;&amp;&quot;&apos;</header_from>"),
              std::string::npos);
    EXPECT_EQ(xml_escape(std::string("a\x01z", 3)), "a?z");
    EXPECT_EQ(xml_escape("b\xc3\xbcro.test"), "b\xc3\xbcro.test"); // UTF-8 stays
    EXPECT_EQ(xml_escape("b\xfcro.test"), "b?ro.test");            // Latin-1 does not
    EXPECT_EQ(xml_escape("\xe2\x82"), "??");                       // cut sequence
    EXPECT_EQ(xml_escape("\xed\xa0\x80"), "???");                  // a surrogate
    EXPECT_EQ(xml_escape("\xf0\x9f\x93\xa7"), "\xf0\x9f\x93\xa7");
}

TEST(dmarc_report, gzip_and_message) {
    auto reps = build_reports(std::vector<observation>{sample()},
                              {"org", "dmarc-noreply@mx.test", "mx.test", 100, 199});
    auto gz = gzip(reps[0].xml);
    ASSERT_TRUE(gz) << gz.error();
    EXPECT_EQ(static_cast<unsigned char>((*gz)[0]), 0x1f); // RFC 1952 ID1 ID2
    EXPECT_EQ(static_cast<unsigned char>((*gz)[1]), 0x8b);
    EXPECT_EQ(gunzip(*gz), reps[0].xml);
    const auto name = report_filename("mx.test", "example.com", 100, 199);
    EXPECT_EQ(name, "mx.test!example.com!100!199.xml.gz");
    report_mail m{"dmarc-noreply@mx.test",
                  "dmarc@example.com",
                  "mx.test",
                  "id1@mx.test",
                  1765000000,
                  name,
                  *gz};
    const auto msg = report_message(reps[0], m);
    EXPECT_NE(msg.find("Subject: Report Domain: example.com Submitter: mx.test Report-ID:\r\n "
                       "<100.example.com@mx.test>\r\n"),
              std::string::npos)
        << msg;
    EXPECT_NE(msg.find("Content-Type: multipart/mixed;"), std::string::npos);
    EXPECT_NE(msg.find("Content-Type: application/gzip"), std::string::npos);
    EXPECT_NE(msg.find("filename=\"mx.test!example.com!100!199.xml.gz\""), std::string::npos);
    EXPECT_NE(msg.find("Date: Sat, 06 Dec 2025 05:46:40 +0000\r\n"), std::string::npos) << msg;
    for (std::size_t at = 0; at < msg.size();) {
        auto nl = msg.find("\r\n", at);
        ASSERT_NE(nl, std::string::npos) << "every line ends in CRLF";
        EXPECT_LE(nl - at, 78u) << msg.substr(at, nl - at);
        EXPECT_EQ(msg.substr(at, nl - at).find('\n'), std::string::npos);
        at = nl + 2;
    }
}

TEST(dmarc_external, decision) {
    EXPECT_FALSE(is_external("example.com", "reports.example.com", psl()));
    EXPECT_FALSE(is_external("mail.example.com", "EXAMPLE.com.", psl()));
    EXPECT_TRUE(is_external("example.com", "thirdparty.test", psl()));
    EXPECT_TRUE(is_external("example.co.uk", "other.co.uk", psl()));
    EXPECT_EQ(verification_name("Example.com", "thirdparty.test"),
              "example.com._report._dmarc.thirdparty.test");
    EXPECT_TRUE(authorises({lookup::status::found, {"v=spf1", "v=DMARC1"}}));
    EXPECT_FALSE(authorises({lookup::status::found, {"v=DMARC2"}}));
    EXPECT_FALSE(authorises({lookup::status::none, {}}));
    EXPECT_FALSE(authorises({lookup::status::temp_error, {"v=DMARC1"}}));
    EXPECT_EQ(address_domain("a@B.Test"), "b.test");
    EXPECT_EQ(address_domain("nobody"), "");
}

TEST(dmarc_store, periods_and_names) {
    using std::chrono::seconds;
    EXPECT_EQ(period_of(1765000000, seconds(86400)), (period{1764979200, 1765065600}));
    EXPECT_EQ(period_of(1764979200, seconds(86400)).begin, 1764979200);
    EXPECT_EQ(period_of(25, seconds(10)), (period{20, 30}));
    const auto n = period_file_name({20, 30}, "log");
    EXPECT_EQ(n, "records-20-30.log");
    EXPECT_EQ(parse_period_file_name(n, "log"), (period{20, 30}));
    EXPECT_FALSE(parse_period_file_name(n, "sent"));
    EXPECT_FALSE(parse_period_file_name("records-30-20.log", "log"));
    EXPECT_FALSE(parse_period_file_name("records-x-20.log", "log"));
}

TEST(dmarc_store, recorder_caps_and_lists) {
    splitmail::test::temp_dir dir("dmarc-store");
    {
        recorder rec(dir.path(), std::chrono::seconds(86400), 3);
        for (int i = 0; i < 5; ++i) rec.record(sample());
        observation next_day = sample();
        next_day.time += 86400;
        rec.record(next_day);
    }
    auto periods = list_periods(dir.path());
    ASSERT_EQ(periods.size(), 2u);
    EXPECT_FALSE(periods[0].sent);
    auto r = read_period(periods[0].log);
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->records.size(), 3u); // the cap
    EXPECT_EQ(r->bad_lines, 0u);
    EXPECT_EQ(r->records[0], sample());
    {
        // A restart in the same period continues the count.
        recorder rec(dir.path(), std::chrono::seconds(86400), 3);
        rec.record(sample());
    }
    EXPECT_EQ(read_period(periods[0].log)->records.size(), 3u);
    // A cut last line (a crash mid-write) and garbage are counted, not fatal.
    std::ofstream(periods[1].log, std::ios::app) << "garbage\n1 2 3";
    auto cut = read_period(periods[1].log);
    ASSERT_TRUE(cut);
    EXPECT_EQ(cut->records.size(), 1u);
    EXPECT_EQ(cut->bad_lines, 2u);
    ASSERT_FALSE(mark_sent(dir.path(), periods[0].p));
    periods = list_periods(dir.path());
    EXPECT_TRUE(periods[0].sent);
    EXPECT_FALSE(periods[1].sent);
    prune(dir.path(), periods[1].p.end + 1); // only sent periods go
    periods = list_periods(dir.path());
    ASSERT_EQ(periods.size(), 1u);
    EXPECT_FALSE(periods[0].sent);
}
