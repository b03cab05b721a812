// The summary of received DMARC reports (provision/report_in/summary.hpp) and the command
// `splitmail dmarc report` over a Maildir of sample reports (commands/dmarc_report_in.hpp).
#include "commands/dmarc_report_in.hpp"
#include "report_in/summary.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <unistd.h>

using namespace splitmail::provision;
using namespace splitmail::provision::report_in;
namespace fs = std::filesystem;

namespace {

const fs::path data_dir = fs::path(SPLITMAIL_TEST_DATA) / "dmarc_report_in";

std::string data_file(const std::string& name) {
    std::ifstream in(data_dir / name, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    if (!in) ADD_FAILURE() << "cannot read test data " << name;
    return s.str();
}

input_report parsed(const std::string& file, const std::string& source) {
    auto r = splitmail::dmarc::report_in::parse_aggregate_report(data_file(file));
    EXPECT_TRUE(r) << r.error();
    return {source, r ? *r : splitmail::dmarc::report_in::aggregate_report{}};
}

TEST(ReportInSummary, SumsPerDomainAndSourceAndDropsDuplicates) {
    auto s = summarise(
        {parsed("google.xml", "g1"), parsed("outlook.xml", "o1"), parsed("google.xml", "g2")},
        {{"junk", "not a report"}});
    EXPECT_EQ(s.reports, 2u);
    EXPECT_EQ(s.duplicates, 1u);
    ASSERT_EQ(s.skipped.size(), 2u);
    EXPECT_EQ(s.skipped[0].source, "junk");
    EXPECT_EQ(s.skipped[1].source, "g2");
    EXPECT_EQ(s.skipped[1].reason,
              "duplicate of report 5717107811868587391 from google.com (first read from g1)");
    ASSERT_EQ(s.domains.size(), 1u);
    const auto& d = s.domains[0];
    EXPECT_EQ(d.domain, "example.org");
    EXPECT_EQ(d.pass, 12u + 2 + 5);
    EXPECT_EQ(d.fail, 3u + 40);
    ASSERT_EQ(d.reports.size(), 2u);
    EXPECT_EQ(d.reports[0].report.org_name, "Enterprise Outlook"); // the earlier date range
    ASSERT_EQ(d.sources.size(), 4u);
    EXPECT_EQ(d.sources[0].ip, "192.0.2.99");
    EXPECT_EQ(d.sources[0].fail, 40u);
    EXPECT_EQ(d.sources[1].ip, "203.0.113.7");
    EXPECT_EQ(d.sources[2].ip, "198.51.100.25");
    EXPECT_EQ(d.sources[2].pass, 17u);
    EXPECT_EQ(d.sources[2].fail, 0u);
    EXPECT_EQ(d.sources[3].ip, "2001:db8::25");
}

TEST(ReportInSummary, TextAndJson) {
    auto s = summarise({parsed("google.xml", "g1"), parsed("outlook.xml", "o1")},
                       {{"bad\x1b[2Jname", "reason\x07"}});
    auto text = render_text(s);
    EXPECT_NE(text.find("DMARC aggregate reports: 2 reports read, 0 duplicates, 1 skipped\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("example.org: 2 reports, 62 messages, 19 pass DMARC, 43 fail\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("  google.com  2025-12-06 00:00 .. 2025-12-06 23:59 UTC  id "
                        "5717107811868587391  p=quarantine sp=quarantine pct=100 adkim=r "
                        "aspf=r\n"),
              std::string::npos)
        << text;
    EXPECT_NE(text.find("    203.0.113.7                                       3  fail  fail  "
                        "quarantine   FAIL\n"),
              std::string::npos)
        << text;
    auto who = text.find("  who sends as example.org:\n    failing DMARC");
    ASSERT_NE(who, std::string::npos) << text;
    EXPECT_LT(text.find("192.0.2.99", who), text.find("203.0.113.7", who));
    EXPECT_LT(text.find("203.0.113.7", who), text.find("passing DMARC", who));
    EXPECT_NE(text.find("  bad?[2Jname: reason?\n"), std::string::npos) << text; // no escapes

    auto j = nlohmann::json::parse(render_json(s));
    EXPECT_EQ(j["reports"], 2);
    EXPECT_EQ(j["duplicates"], 0);
    ASSERT_EQ(j["domains"].size(), 1u);
    const auto& d = j["domains"][0];
    EXPECT_EQ(d["domain"], "example.org");
    EXPECT_EQ(d["messages"], 62);
    EXPECT_EQ(d["pass"], 19);
    EXPECT_EQ(d["fail"], 43);
    EXPECT_EQ(d["reports"][1]["org_name"], "google.com");
    EXPECT_EQ(d["reports"][1]["begin"], 1764979200);
    EXPECT_EQ(d["reports"][1]["policy"]["pct"], 100);
    EXPECT_EQ(d["reports"][1]["rows"][1]["source_ip"], "203.0.113.7");
    EXPECT_EQ(d["reports"][1]["rows"][1]["dmarc"], "fail");
    EXPECT_EQ(d["reports"][1]["rows"][2]["dmarc"], "pass");
    EXPECT_EQ(d["sources"][0]["source_ip"], "192.0.2.99");
    EXPECT_EQ(d["sources"][0]["fail"], 40);
    EXPECT_EQ(j["skipped"][0]["source"], "bad?[2Jname");
}

TEST(ReportInSummary, JsonSurvivesTextThatIsNotUtf8) {
    auto r = parsed("google.xml", "g");
    r.report.org_name = "bad \xff\xfe utf-8";
    auto j = nlohmann::json::parse(render_json(summarise({r}, {})));
    EXPECT_EQ(j["reports"], 1);
}

struct temp_dir {
    fs::path path;
    temp_dir() {
        std::string t = (fs::temp_directory_path() / "dmarc-in-XXXXXX").string();
        path = ::mkdtemp(t.data());
    }
    ~temp_dir() { fs::remove_all(path); }
};

struct result {
    int code;
    std::string out, err;
};
result run(std::vector<std::string> args) {
    std::ostringstream out, err;
    int code = run_dmarc_report(args, out, err);
    return {code, out.str(), err.str()};
}

TEST(DmarcReportCommand, MaildirAndFiles) {
    temp_dir t;
    fs::path md = t.path / "Maildir" / ".dmarc";
    fs::create_directories(md / "new");
    fs::create_directories(md / "cur");
    fs::create_directories(md / "tmp");
    fs::copy_file(data_dir / "outlook.eml", md / "new" / "1764979300.M1P1.host");
    fs::copy_file(data_dir / "google.zip", md / "cur" / "1764979301.M2P1.host:2,S");
    fs::copy_file(data_dir / "malformed.xml", md / "cur" / "1764979302.M3P1.host:2,");
    fs::copy_file(data_dir / "outlook.eml", md / "cur" / ".hidden");  // not read
    fs::copy_file(data_dir / "outlook.eml", md / "tmp" / "inflight"); // not read
    auto r = run({"report", md.string(), (data_dir / "google.xml").string()});
    EXPECT_EQ(r.code, 0) << r.err;
    EXPECT_EQ(r.err, "");
    EXPECT_NE(r.out.find("2 reports read, 1 duplicate, 1 skipped"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("1764979302.M3P1.host:2,: XML: offset"), std::string::npos) << r.out;
    EXPECT_NE(r.out.find("google.xml: duplicate of report 5717107811868587391 from google.com "
                         "(first read from " +
                         (md / "cur" / "1764979301.M2P1.host:2,S").string() +
                         ": zip member \"google.com!example.org!1764979200!1765065599.xml\")"),
              std::string::npos)
        << r.out;

    auto j = run({"report", "--json", md.string()});
    EXPECT_EQ(j.code, 0);
    auto doc = nlohmann::json::parse(j.out);
    EXPECT_EQ(doc["reports"], 2);
    EXPECT_EQ(doc["domains"][0]["fail"], 43);
    EXPECT_EQ(doc["skipped"].size(), 1u);
}

TEST(DmarcReportCommand, UsageAndMissingPaths) {
    EXPECT_EQ(run({}).code, 2);
    auto h = run({"report", "--help"});
    EXPECT_EQ(h.code, 0);
    EXPECT_NE(h.out.find("usage: splitmail dmarc report [--json] PATH..."), std::string::npos);
    EXPECT_EQ(run({"--help"}).code, 0);
    EXPECT_EQ(run({"send"}).code, 2);
    EXPECT_EQ(run({"report"}).code, 2);
    EXPECT_EQ(run({"report", "--xml", "x"}).code, 2);

    temp_dir t;
    fs::create_directories(t.path / "plain");
    auto r = run({"report", (t.path / "nope").string(), (t.path / "plain").string(),
                  (data_dir / "google.xml").string()});
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("nope: no such file or directory"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("plain: neither a file nor a Maildir folder"), std::string::npos);
    EXPECT_NE(r.out.find("1 report read"), std::string::npos) << r.out; // the rest is summarised
}

} // namespace
