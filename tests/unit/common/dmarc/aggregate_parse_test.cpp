// The XML reader (aggregate_parse_xml.hpp) and the DMARC aggregate report parser
// (aggregate_parse.hpp): events, entities, well-formedness errors, caps, and real-world-shaped
// reports (tests/data/dmarc_report_in/).
#include "splitmail/dmarc/aggregate_parse.hpp"
#include "splitmail/dmarc/aggregate_parse_xml.hpp"

#include <gtest/gtest.h>

#include "support/test_data.hpp"

#include <fstream>
#include <sstream>

using namespace splitmail::dmarc::report_in;

namespace {

std::string data_file(const std::string& name) {
    return splitmail::test::test_data("dmarc_report_in/" + name);
}

// Records the events as "<a>", "text", "</a>" (adjacent text runs joined).
struct recorder final : xml_handler {
    std::vector<std::string> events;
    std::optional<std::string> start(std::string_view n) override {
        events.push_back("<" + std::string(n) + ">");
        return std::nullopt;
    }
    std::optional<std::string> text(std::string_view t) override {
        if (!events.empty() && events.back().front() == '"')
            events.back().insert(events.back().size() - 1, t);
        else
            events.push_back("\"" + std::string(t) + "\"");
        return std::nullopt;
    }
    std::optional<std::string> end(std::string_view n) override {
        events.push_back("</" + std::string(n) + ">");
        return std::nullopt;
    }
};

std::string events_of(std::string_view doc) {
    recorder r;
    auto res = read_xml(doc, r);
    if (!res) return "ERROR " + res.error();
    std::string out;
    for (auto& e : r.events) out += e;
    return out;
}

TEST(AggregateParseXml, ReadsElementsTextAndReferences) {
    struct row {
        std::string doc, want;
    } rows[] = {
        {"<a>x</a>", "<a>\"x\"</a>"},
        {"<?xml version=\"1.0\"?>\n<a/>\n", "<a></a>"},
        {"\xEF\xBB\xBF<a></a>", "<a></a>"},
        {"<a><b>1</b><c/></a>", "<a><b>\"1\"</b><c></c></a>"},
        {"<a>&lt;&gt;&amp;&quot;&apos;</a>", "<a>\"<>&\"'\"</a>"},
        {"<a>&#65;&#x42;&#xe9;&#x1F600;</a>", "<a>\"AB\xC3\xA9\xF0\x9F\x98\x80\"</a>"},
        {"<a><![CDATA[<b>&amp;]]></a>", "<a>\"<b>&amp;\"</a>"},
        {"<a>x<!-- <b> -->y</a>", "<a>\"xy\"</a>"},
        {"<!-- c --><a/><!-- d --><?pi x?>", "<a></a>"},
        {"<a x=\"1>2\" y='3'\n z = \"\">t</a>", "<a>\"t\"</a>"},
        {"<ns:a xmlns:ns=\"urn:x\"><ns:b/></ns:a>", "<a><b></b></a>"},
        {"<!DOCTYPE feedback SYSTEM \"x>y.dtd\"><a/>", "<a></a>"},
        {"<a >t</a >", "<a>\"t\"</a>"},
    };
    for (const auto& r : rows) EXPECT_EQ(events_of(r.doc), r.want) << r.doc;
}

TEST(AggregateParseXml, RefusesMalformedDocuments) {
    struct row {
        std::string doc, says;
    } rows[] = {
        {"", "no root element"},
        {"   ", "no root element"},
        {"<a>", "unclosed element <a>"},
        {"<a></b>", "does not close <a>"},
        {"</a>", "without a start"},
        {"<a/><b/>", "second root"},
        {"x<a/>", "text outside the root"},
        {"<a/>x", "text outside the root"},
        {"<a>&nbsp;</a>", "unknown or invalid reference"},
        {"<a>&#0;</a>", "invalid reference"},
        {"<a>&#xD800;</a>", "invalid reference"},
        {"<a>&#x110000;</a>", "invalid reference"},
        {"<a>a & b</a>", "\"&\" not starting a reference"},
        {"<a><!-- x</a>", "unterminated comment"},
        {"<!--><a/>", "unterminated comment"},
        {"<a><![CDATA[x</a>", "unterminated CDATA"},
        {"<![CDATA[x]]><a/>", "CDATA section outside"},
        {"<?xml <a/>", "unterminated processing instruction"},
        {"<a x=1/>", "not quoted"},
        {"<a x/>", "without \"=\""},
        {"<a x=\"1\"y=\"2\"/>", "white space before an attribute"},
        {"<a x=\"<\"/>", "\"<\" in an attribute"},
        {"<a x=\"1/>", "unterminated attribute"},
        {"<a", "unterminated start tag"},
        {"< a/>", "expected an element name"},
        {"<a></ a>", "expected an element name"},
        {"<a></a", "unterminated end tag"},
        {"<!DOCTYPE a [<!ENTITY x \"y\">]><a>&x;</a>", "internal subset"},
        {"<!DOCTYPE a", "unterminated DOCTYPE"},
        {"<a/><!DOCTYPE a>", "DOCTYPE after the root"},
    };
    for (const auto& r : rows) {
        auto e = events_of(r.doc);
        EXPECT_TRUE(e.starts_with("ERROR XML: ")) << r.doc << " -> " << e;
        EXPECT_NE(e.find(r.says), std::string::npos) << r.doc << " -> " << e;
    }
}

TEST(AggregateParseXml, CapsNestingDepth) {
    auto nested = [](std::size_t n) {
        std::string d;
        for (std::size_t i = 0; i < n; ++i) d += "<a>";
        for (std::size_t i = 0; i < n; ++i) d += "</a>";
        return d;
    };
    EXPECT_FALSE(events_of(nested(max_depth)).starts_with("ERROR"));
    auto e = events_of(nested(max_depth + 1));
    EXPECT_NE(e.find("nested deeper than 32"), std::string::npos) << e;
    // A million-deep document is refused at depth 33, not by running out of stack or memory.
    EXPECT_NE(events_of(nested(1'000'000)).find("nested deeper"), std::string::npos);
}

TEST(AggregateParseXml, HandlerErrorStopsTheRead) {
    struct stopper final : xml_handler {
        int starts = 0;
        std::optional<std::string> start(std::string_view) override {
            if (++starts == 2) return "stop here";
            return std::nullopt;
        }
        std::optional<std::string> text(std::string_view) override { return std::nullopt; }
        std::optional<std::string> end(std::string_view) override { return std::nullopt; }
    } h;
    auto r = read_xml("<a><b/><c/></a>", h);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), "stop here");
    EXPECT_EQ(h.starts, 2);
}

TEST(AggregateParse, GoogleShapedReport) {
    auto r = parse_aggregate_report(data_file("google.xml"));
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->org_name, "google.com");
    EXPECT_EQ(r->email, "noreply-dmarc-support@google.com");
    EXPECT_EQ(r->report_id, "5717107811868587391");
    EXPECT_EQ(r->begin, 1764979200);
    EXPECT_EQ(r->end, 1765065599);
    EXPECT_EQ(r->policy.domain, "example.org");
    EXPECT_EQ(r->policy.p, "quarantine");
    EXPECT_EQ(r->policy.sp, "quarantine");
    EXPECT_EQ(r->policy.adkim, "r");
    EXPECT_EQ(r->policy.aspf, "r");
    EXPECT_EQ(r->policy.pct, 100u);
    ASSERT_EQ(r->records.size(), 3u);
    const auto& a = r->records[0];
    EXPECT_EQ(a.source_ip, "198.51.100.25");
    EXPECT_EQ(a.count, 12u);
    EXPECT_EQ(a.disposition, "none");
    EXPECT_EQ(a.dkim, "pass");
    EXPECT_EQ(a.spf, "pass");
    EXPECT_EQ(a.header_from, "example.org");
    ASSERT_EQ(a.auth_dkim.size(), 2u);
    EXPECT_EQ(a.auth_dkim[1].selector, "relay-rsa");
    EXPECT_EQ(a.auth_dkim[1].result, "pass");
    ASSERT_EQ(a.auth_spf.size(), 1u);
    EXPECT_EQ(a.auth_spf[0].domain, "example.org");
    EXPECT_TRUE(a.dmarc_pass());
    const auto& b = r->records[1];
    EXPECT_EQ(b.source_ip, "203.0.113.7");
    EXPECT_EQ(b.count, 3u);
    EXPECT_EQ(b.disposition, "quarantine");
    EXPECT_FALSE(b.dmarc_pass());
    EXPECT_TRUE(b.auth_dkim.empty());
    EXPECT_EQ(b.auth_spf.at(0).result, "softfail");
    const auto& c = r->records[2];
    EXPECT_EQ(c.source_ip, "2001:db8::25");
    EXPECT_TRUE(c.dmarc_pass()); // aligned DKIM passes though SPF fails (forwarded)
    EXPECT_EQ(c.auth_spf.at(0).domain, "lists.example.net");
}

TEST(AggregateParse, OutlookShapedReportWithNamespaceAndCdata) {
    auto r = parse_aggregate_report(data_file("outlook.xml"));
    ASSERT_TRUE(r) << r.error();
    EXPECT_EQ(r->org_name, "Enterprise Outlook");
    EXPECT_EQ(r->policy.domain, "example.org"); // "Example.ORG" lower-cased
    EXPECT_EQ(r->policy.adkim, "s");
    EXPECT_EQ(r->policy.sp, "none");
    ASSERT_EQ(r->records.size(), 2u);
    EXPECT_EQ(r->records[0].envelope_from, "example.org");
    EXPECT_EQ(r->records[1].envelope_from, "bulk&co.example.net");
    EXPECT_EQ(r->records[1].count, 40u);
    EXPECT_FALSE(r->records[1].dmarc_pass());
}

TEST(AggregateParse, MalformedFileSaysWhere) {
    auto r = parse_aggregate_report(data_file("malformed.xml"));
    ASSERT_FALSE(r);
    EXPECT_TRUE(r.error().starts_with("XML: ")) << r.error();
    EXPECT_NE(r.error().find("</feedback> does not close <record>"), std::string::npos)
        << r.error();
}

std::string report(std::string records, std::string meta = "<org_name>o</org_name>"
                                                           "<report_id>1</report_id>"
                                                           "<date_range><begin>10</begin>"
                                                           "<end>20</end></date_range>") {
    return "<feedback><report_metadata>" + meta +
           "</report_metadata><policy_published><domain>d.example</domain><p>none</p>"
           "</policy_published>" +
           records + "</feedback>";
}
std::string rec(std::string ip, std::string count) {
    return "<record><row><source_ip>" + ip + "</source_ip><count>" + count +
           "</count></row></record>";
}

TEST(AggregateParse, RefusesUnusableReports) {
    struct row {
        std::string doc, says;
    } rows[] = {
        {"<html><body/></html>", "report: the root element is <html>, not <feedback>"},
        {report("", "<report_id>1</report_id><date_range><begin>1</begin><end>2</end>"
                    "</date_range>"),
         "report: no org_name"},
        {report("", "<org_name>o</org_name><date_range><begin>1</begin><end>2</end>"
                    "</date_range>"),
         "report: no report_id"},
        {report("", "<org_name>o</org_name><report_id>1</report_id>"), "no date_range"},
        {report("", "<org_name>o</org_name><report_id>1</report_id><date_range><begin>9"
                    "</begin><end>2</end></date_range>"),
         "begin is after end"},
        {report("", "<org_name>o</org_name><report_id>1</report_id><date_range><begin>-1"
                    "</begin><end>2</end></date_range>"),
         "date_range begin \"-1\" is not a Unix time"},
        {"<feedback><report_metadata><org_name>o</org_name><report_id>1</report_id>"
         "<date_range><begin>1</begin><end>2</end></date_range></report_metadata></feedback>",
         "no policy_published/domain"},
        {report(rec("192.0.2.1", "ten")), "record 1: count \"ten\" is not a number"},
        {report(rec("192.0.2.1", "1") + rec("192.0.2.1", "-1")),
         "record 2: count \"-1\" is not a number"},
        {report(rec("192.0.2.1", "1000000000001")), "count \"1000000000001\""},
        {report(rec("192.0.2.1", "99999999999999999999")), "is not a number"},
        {report(rec("example.org", "1")), "record 1: source_ip \"example.org\" is not an IP"},
        {report(rec("192.0.2.1/24", "1")), "is not an IP"},
        {report("<record><row><count>1</count></row></record>"), "record 1: no source_ip"},
        {report("<record><row><source_ip>192.0.2.1</source_ip></row></record>"),
         "record 1: no count"},
    };
    for (const auto& r : rows) {
        auto p = parse_aggregate_report(r.doc);
        ASSERT_FALSE(p) << r.doc;
        EXPECT_NE(p.error().find(r.says), std::string::npos) << r.doc << " -> " << p.error();
    }
}

TEST(AggregateParse, CleansValuesFromOutside) {
    auto p = parse_aggregate_report(
        report(rec(" 192.0.2.1\n", " 7 "),
               "<org_name>evil&#x1b;[31m\x7f</org_name><report_id>  r1 </report_id><date_range>"
               "<begin>10</begin><end>20</end></date_range><email>" +
                   std::string(5000, 'x') + "</email>"));
    ASSERT_TRUE(p) << p.error();
    EXPECT_EQ(p->org_name, "evil?[31m?");
    EXPECT_EQ(p->report_id, "r1");
    EXPECT_EQ(p->email.size(), max_value);
    EXPECT_EQ(p->records.at(0).source_ip, "192.0.2.1");
    EXPECT_EQ(p->records.at(0).count, 7u);
    EXPECT_FALSE(p->policy.pct); // absent stays absent
}

TEST(AggregateParse, IgnoresUnknownElementsAndAttributes) {
    auto p = parse_aggregate_report(
        report("<extension><x:any xmlns:x=\"urn:x\"><record><row><source_ip>bad</source_ip></row>"
               "</record></x:any></extension>" +
               rec("192.0.2.1", "1") +
               "<record id=\"2\"><row><source_ip>::1</source_ip><count>2</count><new_thing>z"
               "</new_thing></row></record>"));
    ASSERT_TRUE(p) << p.error();
    ASSERT_EQ(p->records.size(), 2u); // the <record> under <extension> is not a record
    EXPECT_EQ(p->records[1].source_ip, "::1");
}

TEST(AggregateParse, CapsRecordsAndAuthResults) {
    std::string many;
    const std::string one = rec("192.0.2.1", "1");
    many.reserve(one.size() * (max_records + 1));
    for (std::size_t i = 0; i < max_records; ++i) many += one;
    auto ok = parse_aggregate_report(report(many));
    ASSERT_TRUE(ok) << ok.error();
    EXPECT_EQ(ok->records.size(), max_records);
    auto over = parse_aggregate_report(report(many + one));
    ASSERT_FALSE(over);
    EXPECT_NE(over.error().find("more than 200000 records"), std::string::npos);

    std::string dk;
    for (std::size_t i = 0; i <= max_auth_results; ++i)
        dk += "<dkim><domain>d</domain><result>pass</result></dkim>";
    auto r = parse_aggregate_report(
        report("<record><row><source_ip>192.0.2.1</source_ip><count>1</count></row>"
               "<auth_results>" +
               dk + "</auth_results></record>"));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().find("record 1: more than 100 DKIM results"), std::string::npos);
}

TEST(AggregateParse, LongElementNamesCostNoMoreThanShortOnes) {
    // 31 levels of 1 MiB names, then many small elements: comparing each element's path must
    // not walk the long names again (they are replaced by a marker).
    std::string name(1 << 20, 'n');
    std::string d = "<feedback>";
    for (int i = 0; i < 30; ++i) d += "<" + name + ">";
    for (int i = 0; i < 50000; ++i) d += "<x/>";
    for (int i = 0; i < 30; ++i) d += "</" + name + ">";
    d += "</feedback>";
    auto p = parse_aggregate_report(d);
    ASSERT_FALSE(p);
    EXPECT_EQ(p.error(), "report: no org_name");
}

} // namespace
