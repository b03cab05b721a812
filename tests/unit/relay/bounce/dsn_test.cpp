// RFC 3464 DSNs: who gets one (null sender, NOTIFY), and the structure, checked by a real MIME
// parser (Python's email package, /usr/bin/python3) and by direct inspection.
#include "bounce/dsn.hpp"
#include "splitmail/smtp/date.hpp"

#include "splitmail/queue/id.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <unistd.h>

using namespace splitmail;
using namespace splitmail::relay;
using std::chrono::days;
using std::chrono::duration_cast;
using std::chrono::hours;
using std::chrono::milliseconds;
using std::chrono::minutes;
using std::chrono::seconds;
namespace fs = std::filesystem;

namespace {

const sys_time t0 = sys_time{seconds{1'700'000'000}}; // Tue, 14 Nov 2023 22:13:20 +0000

const std::string original = "Received: from mx.example.org by relay.example.test\r\n"
                             "From: Alice <alice@example.org>\r\n"
                             "To: demo@example.test\r\n"
                             "Subject: quarterly report\r\n"
                             "\r\n"
                             "Body line one.\r\n"
                             "Body line two.\r\n";

queue::recipient rcpt(std::string addr, queue::rcpt_state st, int code = 0, std::string enh = "",
                      std::string text = "") {
    queue::recipient r;
    r.address = std::move(addr);
    r.state = st;
    r.last_code = code;
    r.last_enhanced = std::move(enh);
    r.last_text = std::move(text);
    return r;
}

queue::envelope env_with(std::vector<queue::recipient> rs) {
    queue::envelope e;
    e.id = queue::make_id();
    e.sender = "alice@example.org";
    e.recipients = std::move(rs);
    e.arrival = t0;
    e.attempts = 2;
    return e;
}

dsn_options opts() {
    return {.reporting_mta = "relay.example.test",
            .now = t0 + hours{1},
            .will_retry_until = t0 + days{14},
            .only = {}};
}

// Parses `data` with Python's email package; returns a JSON summary.
nlohmann::json python_parse(const std::string& data) {
    char path[] = "/tmp/dsn-test-XXXXXX";
    int fd = ::mkstemp(path);
    EXPECT_GE(fd, 0);
    ::close(fd);
    std::ofstream(path, std::ios::binary) << data;
    const char* script = R"PY(
import sys, json, email
from email import policy
msg = email.message_from_binary_file(open(sys.argv[1], 'rb'), policy=policy.compat32)
out = {"ct": msg.get_content_type(), "report_type": msg.get_param("report-type"),
       "from": msg["From"], "to": msg["To"], "auto": msg["Auto-Submitted"],
       "subject": msg["Subject"], "defects": [str(d) for d in msg.defects]}
parts = msg.get_payload()
out["parts"] = [p.get_content_type() for p in parts]
out["human"] = parts[0].get_payload()
blocks = parts[1].get_payload()
out["per_message"] = dict(blocks[0].items())
out["per_rcpt"] = [dict(b.items()) for b in blocks[1:]]
third = parts[2]
if third.get_content_type() == "message/rfc822":
    inner = third.get_payload()[0]
    out["orig_subject"] = inner["Subject"]
    out["orig_body"] = inner.get_payload()
else:
    out["orig_headers"] = third.get_payload()
for p in parts:
    out["defects"] += [str(d) for d in p.defects]
print(json.dumps(out))
)PY";
    const std::string py = std::string(path) + ".py";
    std::ofstream(py) << script;
    const std::string cmd = "/usr/bin/python3 " + py + " " + path;
    std::string output;
    if (FILE* p = ::popen(cmd.c_str(), "r")) {
        char buf[4096];
        std::size_t n;
        while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) output.append(buf, n);
        EXPECT_EQ(::pclose(p), 0) << output;
    }
    fs::remove(path);
    fs::remove(py);
    return nlohmann::json::parse(output, nullptr, false);
}

} // namespace

TEST(dsn, null_sender_never_gets_a_notice) {
    auto e = env_with({rcpt("a@example.test", queue::rcpt_state::failed, 550, "5.1.1", "no")});
    e.sender = "";
    EXPECT_FALSE(make_dsn(e, original, dsn_kind::failure, opts()));
    EXPECT_FALSE(make_dsn(e, original, dsn_kind::delay, opts()));
}

TEST(dsn, notify_decides_per_recipient) {
    auto never = rcpt("never@example.test", queue::rcpt_state::failed, 550, "5.1.1", "unknown");
    never.notify = *queue::parse_notify("NEVER");
    auto delay_only = rcpt("delay@example.test", queue::rcpt_state::failed, 550, "5.1.1", "x");
    delay_only.notify = *queue::parse_notify("DELAY");
    auto dflt = rcpt("default@example.test", queue::rcpt_state::failed, 550, "5.1.1", "x");
    auto ok = rcpt("ok@example.test", queue::rcpt_state::delivered, 250, "2.0.0", "ok");
    auto e = env_with({never, delay_only, dflt, ok});
    auto d = make_dsn(e, original, dsn_kind::failure, opts());
    ASSERT_TRUE(d);
    EXPECT_EQ(d->reported, std::vector<std::string>{"default@example.test"});
    EXPECT_EQ(d->data.find("never@example.test"), std::string::npos);
    EXPECT_EQ(d->data.find("ok@example.test"), std::string::npos);

    // Only NEVER recipients failed: no notice at all.
    EXPECT_FALSE(make_dsn(env_with({never, ok}), original, dsn_kind::failure, opts()));

    // Delay notices go to DELAY and default recipients that are still pending.
    auto pend_default = rcpt("p1@example.test", queue::rcpt_state::deferred, 451, "4.3.0", "x");
    auto pend_failure = rcpt("p2@example.test", queue::rcpt_state::pending);
    pend_failure.notify = *queue::parse_notify("FAILURE");
    auto dd = make_dsn(env_with({pend_default, pend_failure}), original, dsn_kind::delay, opts());
    ASSERT_TRUE(dd);
    EXPECT_EQ(dd->reported, std::vector<std::string>{"p1@example.test"});
}

TEST(dsn, only_restricts_to_this_attempts_failures) {
    auto e = env_with({rcpt("a@example.test", queue::rcpt_state::failed, 550, "5.1.1", "x"),
                       rcpt("b@example.test", queue::rcpt_state::failed, 552, "5.2.2", "full")});
    auto o = opts();
    o.only = {"b@example.test"};
    auto d = make_dsn(e, original, dsn_kind::failure, o);
    ASSERT_TRUE(d);
    EXPECT_EQ(d->reported, std::vector<std::string>{"b@example.test"});
}

TEST(dsn, failure_notice_parses_as_multipart_report) {
    auto r = rcpt("demo@example.test", queue::rcpt_state::failed, 550, "5.1.1",
                  "demo@example.test: user unknown");
    r.orcpt = "rfc822;Demo+2Btag@example.test";
    auto e = env_with({r});
    e.envid = "QQ314159";
    auto d = make_dsn(e, original, dsn_kind::failure, opts());
    ASSERT_TRUE(d);
    EXPECT_EQ(d->envelope_sender, "");
    EXPECT_EQ(d->recipient, "alice@example.org");
    EXPECT_FALSE(d->eight_bit);
    EXPECT_FALSE(d->smtputf8);
    // Every line ends in CRLF and none is over the RFC 5322 2.1.1 limit.
    std::size_t start = 0;
    while (start < d->data.size()) {
        auto end = d->data.find("\r\n", start);
        ASSERT_NE(end, std::string::npos) << "unterminated last line";
        EXPECT_EQ(d->data.substr(start, end - start).find('\n'), std::string::npos);
        EXPECT_LE(end - start, 998u);
        start = end + 2;
    }

    auto j = python_parse(d->data);
    ASSERT_FALSE(j.is_discarded()) << "python could not parse";
    EXPECT_EQ(j["ct"], "multipart/report");
    EXPECT_EQ(j["report_type"], "delivery-status");
    EXPECT_EQ(j["from"], "Mail Delivery System <MAILER-DAEMON@relay.example.test>");
    EXPECT_EQ(j["to"], "<alice@example.org>");
    EXPECT_EQ(j["auto"], "auto-replied");
    EXPECT_EQ(j["defects"].size(), 0u) << j["defects"].dump();
    EXPECT_EQ(j["parts"],
              nlohmann::json({"text/plain", "message/delivery-status", "text/rfc822-headers"}));
    EXPECT_NE(j["human"].get<std::string>().find("demo@example.test"), std::string::npos);
    EXPECT_EQ(j["per_message"]["Reporting-MTA"], "dns; relay.example.test");
    EXPECT_EQ(j["per_message"]["Original-Envelope-Id"], "QQ314159");
    EXPECT_EQ(j["per_message"]["Arrival-Date"], "Tue, 14 Nov 2023 22:13:20 +0000");
    ASSERT_EQ(j["per_rcpt"].size(), 1u);
    auto pr = j["per_rcpt"][0];
    EXPECT_EQ(pr["Final-Recipient"], "rfc822; demo@example.test");
    EXPECT_EQ(pr["Original-Recipient"], "rfc822; Demo+tag@example.test");
    EXPECT_EQ(pr["Action"], "failed");
    EXPECT_EQ(pr["Status"], "5.1.1");
    EXPECT_EQ(pr["Diagnostic-Code"], "smtp; 550 5.1.1 demo@example.test: user unknown");
    EXPECT_EQ(pr["Last-Attempt-Date"], "Tue, 14 Nov 2023 23:13:20 +0000");
    const std::string headers = j["orig_headers"];
    EXPECT_NE(headers.find("Subject: quarterly report"), std::string::npos);
    EXPECT_EQ(headers.find("Body line one"), std::string::npos) << "RET=HDRS/default: no body";
}

TEST(dsn, ret_full_returns_the_whole_message) {
    auto e = env_with({rcpt("demo@example.test", queue::rcpt_state::failed, 552, "5.2.2", "full"),
                       rcpt("bob@example.test", queue::rcpt_state::failed, 550, "5.1.1", "gone")});
    e.ret = queue::ret_type::full;
    auto d = make_dsn(e, original, dsn_kind::failure, opts());
    ASSERT_TRUE(d);
    auto j = python_parse(d->data);
    ASSERT_FALSE(j.is_discarded());
    EXPECT_EQ(j["parts"][2], "message/rfc822");
    EXPECT_EQ(j["orig_subject"], "quarterly report");
    EXPECT_NE(j["orig_body"].get<std::string>().find("Body line two."), std::string::npos);
    ASSERT_EQ(j["per_rcpt"].size(), 2u);
    EXPECT_EQ(j["per_rcpt"][1]["Final-Recipient"], "rfc822; bob@example.test");
    EXPECT_EQ(j["defects"].size(), 0u) << j["defects"].dump();
}

TEST(dsn, delay_notice_fields) {
    auto e = env_with(
        {rcpt("demo@example.test", queue::rcpt_state::deferred, 451, "4.4.1", "home unreachable")});
    e.ret = queue::ret_type::full; // delay notices carry headers only anyway
    auto d = make_dsn(e, original, dsn_kind::delay, opts());
    ASSERT_TRUE(d);
    auto j = python_parse(d->data);
    ASSERT_FALSE(j.is_discarded());
    EXPECT_EQ(j["subject"], "Delayed Mail (still being retried)");
    EXPECT_EQ(j["parts"][2], "text/rfc822-headers");
    auto pr = j["per_rcpt"][0];
    EXPECT_EQ(pr["Action"], "delayed");
    EXPECT_EQ(pr["Status"], "4.4.1");
    EXPECT_EQ(pr["Will-Retry-Until"], "Tue, 28 Nov 2023 22:13:20 +0000");
    EXPECT_NE(j["human"].get<std::string>().find("keep trying"), std::string::npos);
}

TEST(dsn, status_class_matches_action) {
    // A recipient that failed at lifetime expiry with a 4xx last reply is reported as 5.x.x.
    auto e = env_with({rcpt("demo@example.test", queue::rcpt_state::failed, 451, "4.4.1", "x"),
                       rcpt("b@example.test", queue::rcpt_state::failed)});
    auto d = make_dsn(e, original, dsn_kind::failure, opts());
    ASSERT_TRUE(d);
    EXPECT_NE(d->data.find("Status: 5.4.1\r\n"), std::string::npos);
    EXPECT_NE(d->data.find("Status: 5.0.0\r\n"), std::string::npos);
    // No attempt reply: no Diagnostic-Code for that recipient.
    auto second = d->data.find("Final-Recipient: rfc822; b@example.test");
    ASSERT_NE(second, std::string::npos);
    EXPECT_EQ(d->data.find("Diagnostic-Code", second), std::string::npos);
}

TEST(dsn, utf8_addresses_use_rfc6533_types) {
    auto e = env_with({rcpt("jörg@exämple.test", queue::rcpt_state::failed, 550, "5.1.1", "x")});
    e.sender = "änne@example.org";
    auto d = make_dsn(e, original + "Grüße\r\n", dsn_kind::failure, opts());
    ASSERT_TRUE(d);
    EXPECT_TRUE(d->smtputf8);
    EXPECT_TRUE(d->eight_bit);
    EXPECT_NE(d->data.find("Content-Type: message/global-delivery-status"), std::string::npos);
    EXPECT_NE(d->data.find("Final-Recipient: utf-8; jörg@exämple.test"), std::string::npos);
    EXPECT_NE(d->data.find("Content-Type: message/global-headers"), std::string::npos);
}

TEST(dsn, header_injection_is_neutralised) {
    auto e = env_with({rcpt("demo@example.test", queue::rcpt_state::failed, 550, "5.1.1",
                            "bad\r\nBcc: victim@example.org")});
    auto d = make_dsn(e, original, dsn_kind::failure, opts());
    ASSERT_TRUE(d);
    EXPECT_EQ(d->data.find("\r\nBcc:"), std::string::npos);
}

TEST(dsn, boundary_never_occurs_in_the_original) {
    auto e = env_with({rcpt("demo@example.test", queue::rcpt_state::failed, 550, "5.1.1", "x")});
    e.ret = queue::ret_type::full;
    const std::string tricky = original + "--=_splitmail_" + e.id + "\r\n";
    auto d = make_dsn(e, tricky, dsn_kind::failure, opts());
    ASSERT_TRUE(d);
    auto j = python_parse(d->data);
    ASSERT_FALSE(j.is_discarded());
    EXPECT_EQ(j["parts"].size(), 3u);
    EXPECT_NE(j["orig_body"].get<std::string>().find("--=_splitmail_" + e.id), std::string::npos);
}

TEST(dsn, notice_envelope_is_from_the_null_sender) {
    auto e = env_with({rcpt("demo@example.test", queue::rcpt_state::failed, 550, "5.1.1", "x")});
    auto d = make_dsn(e, original, dsn_kind::failure, opts());
    ASSERT_TRUE(d);
    auto n = make_notice_envelope(*d, queue::make_id(), t0);
    EXPECT_EQ(n.sender, "");
    ASSERT_EQ(n.recipients.size(), 1u);
    EXPECT_EQ(n.recipients[0].address, "alice@example.org");
    EXPECT_EQ(n.recipients[0].route, queue::rcpt_route::remote);
    EXPECT_EQ(queue::to_string(n.recipients[0].notify), "NEVER");
    EXPECT_EQ(n.size, d->data.size());
    // And a notice about the notice is never made.
    n.recipients[0].state = queue::rcpt_state::failed;
    EXPECT_FALSE(make_dsn(n, d->data, dsn_kind::failure, opts()));
}

TEST(dsn, xtext_and_dates) {
    EXPECT_EQ(xtext_decode("a+2Bb+3Dc"), "a+b=c");
    EXPECT_EQ(xtext_decode("plain"), "plain");
    EXPECT_EQ(xtext_decode("bad+zz+2"), "bad+zz+2");
    EXPECT_EQ(splitmail::smtp::rfc5322_date(sys_time{}), "Thu, 01 Jan 1970 00:00:00 +0000");
}
