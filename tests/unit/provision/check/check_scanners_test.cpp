// Unit tests of the "scanners" check's pure half (provision/check/scanners.hpp): clamd's
// VERSION answer (whole and cut at every length), the ctime date, rspamd's Server header, and
// the findings' texts (consequence per on_failure, database age).
#include "check/scanners.hpp"

#include <gtest/gtest.h>

#include <string>

using namespace splitmail::provision::check;

namespace {

std::time_t utc(int y, int mon, int d, int h = 0, int mi = 0, int s = 0) {
    std::tm tm{};
    tm.tm_year = y - 1900;
    tm.tm_mon = mon - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    tm.tm_sec = s;
    return timegm(&tm);
}

} // namespace

TEST(ClamdVersion, FullAnswer) {
    auto v = parse_clamd_version("ClamAV 1.0.7/27480/Fri Dec  4 09:31:02 2026");
    ASSERT_TRUE(v) << v.error();
    EXPECT_EQ(v->engine, "1.0.7");
    EXPECT_EQ(v->db, 27480u);
    EXPECT_EQ(v->db_time, utc(2026, 12, 4, 9, 31, 2));
}

TEST(ClamdVersion, TrailingNulAndNewline) {
    auto a = parse_clamd_version(std::string("ClamAV 1.0.7/27480/Fri Dec  4 09:31:02 2026\0", 44));
    auto b = parse_clamd_version("ClamAV 1.0.7/27480/Fri Dec  4 09:31:02 2026\n");
    ASSERT_TRUE(a);
    ASSERT_TRUE(b);
    EXPECT_EQ(*a, *b);
    auto two = parse_clamd_version("ClamAV 1.4.2/27501/Mon Jan 12 08:00:00 2026");
    ASSERT_TRUE(two);
    EXPECT_EQ(two->db_time, utc(2026, 1, 12, 8));
}

TEST(ClamdVersion, EngineOnlyWithoutDailyDatabase) {
    // What clamd 1.4 says with only local .ndb signatures (the integration tests' database).
    auto v = parse_clamd_version(std::string("ClamAV 1.4.6\0", 13));
    ASSERT_TRUE(v) << v.error();
    EXPECT_EQ(v->engine, "1.4.6");
    EXPECT_FALSE(v->db);
    EXPECT_FALSE(v->db_time);
}

TEST(ClamdVersion, Refused) {
    for (std::string_view bad :
         {"", "PONG", "ClamAV ", "ClamAV", "clamav 1.0/1/Fri Dec  4 09:31:02 2026", "ClamAV 1.0.7/",
          "ClamAV 1.0.7/27480", "ClamAV 1.0.7/x/Fri Dec  4 09:31:02 2026",
          "ClamAV 1.0.7/27480/yesterday", "ClamAV 1.0.7/27480/Fri Dec 32 09:31:02 2026",
          "ClamAV 1.0.7/27480/Fri Feb 31 09:31:02 2026",
          "ClamAV 1.0.7/27480/Fri Foo  4 09:31:02 2026",
          "ClamAV 1.0.7/27480/Fri Dec  4 25:31:02 2026",
          "ClamAV 1.0.7/27480/Fri Dec  4 09:31:02 1969",
          "ClamAV 1.0.7/27480/Fri Dec  4 09:31:02 2026 extra",
          "ClamAV 1.0.7/99999999999999999999999/Fri Dec  4 09:31:02 2026",
          "ClamAV 1.0.7/-1/Fri Dec  4 09:31:02 2026", "ClamAV 1 0 7",
          "ClamAV 1.0.7/27480/Fri Dec  4 09:31:02 2026\x01"}) {
        EXPECT_FALSE(parse_clamd_version(bad)) << bad;
    }
    EXPECT_FALSE(parse_clamd_version("ClamAV " + std::string(65, '1')));
}

TEST(ClamdVersion, EveryPrefixIsRefusedOrEngineOnly) {
    // A cut answer never yields a database version with a wrong date.
    const std::string full = "ClamAV 1.0.7/27480/Fri Dec  4 09:31:02 2026";
    for (std::size_t n = 0; n < full.size(); ++n) {
        auto v = parse_clamd_version(std::string_view(full).substr(0, n));
        if (v) {
            EXPECT_FALSE(v->db) << n;
        }
    }
}

TEST(ClamdVersion, Ctime) {
    EXPECT_EQ(parse_ctime("Thu Jan  1 00:00:00 1970"), std::time_t{0});
    EXPECT_EQ(parse_ctime("Sat Feb 29 12:00:00 2028"), utc(2028, 2, 29, 12));
    EXPECT_FALSE(parse_ctime("Sat Feb 29 12:00:00 2027"));
    EXPECT_FALSE(parse_ctime("Sat Feb 29 12:00 2028"));
    EXPECT_FALSE(parse_ctime(""));
}

TEST(RspamdVersion, FromServerHeader) {
    EXPECT_EQ(rspamd_server_version("HTTP/1.1 200 OK\r\nConnection: close\r\nServer: rspamd/3.4"
                                    "\r\nContent-Length: 5\r\n\r\npong\n"),
              "3.4");
    EXPECT_EQ(rspamd_server_version("HTTP/1.1 200 OK\r\nserver: rspamd/3.8.1 extra\r\n\r\n"),
              "3.8.1");
    EXPECT_EQ(rspamd_server_version("HTTP/1.1 200 OK\r\nServer: nginx\r\n\r\n"), "");
    EXPECT_EQ(rspamd_server_version("HTTP/1.1 200 OK\r\n\r\nServer: rspamd/3.4\r\n"), "");
    EXPECT_EQ(rspamd_server_version("HTTP/1.1 200 OK\r\nServer: rspamd/\x01\r\n\r\n"), "");
    EXPECT_EQ(rspamd_server_version(""), "");
}

TEST(ScannerFindings, RspamdDownSaysConsequenceOfOnFailure) {
    scanner_config cfg{"127.0.0.1:11333", false, "/etc/splitmail/relay.toml"};
    auto f = rspamd_finding(cfg, {"Connection refused", ""});
    EXPECT_EQ(f.state, status::fail);
    EXPECT_NE(f.detail.find("rspamd does not answer on 127.0.0.1:11333"), std::string::npos);
    EXPECT_NE(f.detail.find("Connection refused"), std::string::npos);
    EXPECT_NE(f.detail.find("accepted unchecked meanwhile"), std::string::npos);
    EXPECT_NE(f.detail.find("rspamd.on_failure = accept"), std::string::npos);
    EXPECT_NE(f.fix.find("systemctl start rspamd"), std::string::npos);
    EXPECT_NE(f.fix.find("rspamd.address"), std::string::npos);
    cfg.tempfail_on_failure = true;
    f = rspamd_finding(cfg, {"no answer within 5 s", ""});
    EXPECT_NE(f.detail.find("451 4.7.1"), std::string::npos);
    EXPECT_NE(f.detail.find("rspamd.on_failure = tempfail"), std::string::npos);
    EXPECT_EQ(f.detail.find("accepted"), std::string::npos);
}

TEST(ScannerFindings, RspamdAnswers) {
    auto f = rspamd_finding({"127.0.0.1:11333", false, "relay.toml"}, {"", "3.4"});
    EXPECT_EQ(f, ok("scanners", "rspamd 3.4 answers on 127.0.0.1:11333 (rspamd.address in "
                                "relay.toml)"));
    EXPECT_EQ(rspamd_finding({"127.0.0.1:11333", false, "relay.toml"}, {"", ""}).detail,
              "rspamd answers on 127.0.0.1:11333 (rspamd.address in relay.toml)");
}

TEST(ScannerFindings, ClamdDatabaseAge) {
    const scanner_config cfg{"/run/clamav/clamd.ctl", false, "relay.toml"};
    const auto built = utc(2026, 12, 4, 9, 31, 2);
    clamd_probe p{"", clamd_version{"1.0.7", 27480, built}};
    auto f = clamd_findings(cfg, p, built + 2 * 86400 + 3600);
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0], ok("scanners", "clamd 1.0.7 answers on /run/clamav/clamd.ctl (clamav.address "
                                   "in relay.toml), signatures 27480 of 2026-12-04 (2 days old)"));
    f = clamd_findings(cfg, p, built + 3600);
    EXPECT_NE(f[0].detail.find("(less than a day old)"), std::string::npos);
    f = clamd_findings(cfg, p, built + 7 * 86400); // exactly 7 days: still fine
    EXPECT_EQ(f[0].state, status::ok);
    f = clamd_findings(cfg, p, built + 9 * 86400);
    EXPECT_EQ(f[0].state, status::warn);
    EXPECT_NE(f[0].detail.find("9 days old"), std::string::npos);
    EXPECT_NE(f[0].fix.find("systemctl status clamav-freshclam"), std::string::npos);
    f = clamd_findings(cfg, p, built - 3 * 86400);
    EXPECT_EQ(f[0].state, status::warn);
    EXPECT_NE(f[0].detail.find("future"), std::string::npos);
}

TEST(ScannerFindings, ClamdWithoutDailyDatabaseWarns) {
    auto f = clamd_findings({"/s", false, "relay.toml"}, {"", clamd_version{"1.4.6", {}, {}}}, 0);
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].state, status::warn);
    EXPECT_NE(f[0].detail.find("clamd 1.4.6 answers"), std::string::npos);
    EXPECT_NE(f[0].fix.find("freshclam"), std::string::npos);
}

TEST(ScannerFindings, ClamdDown) {
    auto f = clamd_findings({"127.0.0.1:3310", false, "relay.toml"}, {"Connection refused", {}}, 0);
    ASSERT_EQ(f.size(), 1u);
    EXPECT_EQ(f[0].state, status::fail);
    EXPECT_NE(f[0].detail.find("clamd does not answer on 127.0.0.1:3310"), std::string::npos);
    EXPECT_NE(f[0].detail.find("accepted unscanned meanwhile"), std::string::npos);
    EXPECT_NE(f[0].detail.find("clamav.on_failure = accept"), std::string::npos);
    EXPECT_NE(f[0].fix.find("systemctl start clamav-daemon"), std::string::npos);
    f = clamd_findings({"127.0.0.1:3310", true, "relay.toml"}, {"timeout", {}}, 0);
    EXPECT_NE(f[0].detail.find("clamav.on_failure = tempfail"), std::string::npos);
}
