// decide(): every rspamd action, clamd answer and failure policy, table-driven.
#include "filter/verdict.hpp"

#include <gtest/gtest.h>

namespace splitmail::relay::filter {
namespace {

rspamd_result rspamd_said(std::string action, double score = 3.5) {
    rspamd_result r;
    r.status = scan_status::done;
    r.answer.action = std::move(action);
    r.answer.score = score;
    r.answer.required_score = 15;
    r.answer.symbols = {{"ZED", 1.5}, {"ALPHA", 2.0}};
    return r;
}

clamd_result clamd_said(clamd_reply::kind k, std::string detail = "") {
    clamd_result c;
    c.status = scan_status::done;
    c.reply = {k, std::move(detail)};
    return c;
}

rspamd_result rspamd_in(scan_status s) {
    rspamd_result r;
    r.status = s;
    return r;
}

clamd_result clamd_in(scan_status s) {
    clamd_result c;
    c.status = s;
    return c;
}

struct refusal_case {
    const char* what;
    rspamd_result rspamd;
    clamd_result clamd;
    failure_policy policy;
    int code;
    const char* enhanced;
    const char* text_has;
};

TEST(FilterVerdict, Refusals) {
    const failure_policy accept{}, tempfail{true, true};
    const refusal_case cases[] = {
        {"rspamd reject", rspamd_said("reject", 100), {}, accept, 550, "5.7.1", "spam"},
        {"soft reject", rspamd_said("soft reject"), {}, accept, 451, "4.7.1", "later"},
        {"greylist", rspamd_said("greylist"), {}, accept, 451, "4.7.1", "Greylisted"},
        {"virus", rspamd_in(scan_status::off), clamd_said(clamd_reply::kind::found, "Eicar-Sig"),
         accept, 554, "5.7.1", "virus Eicar-Sig"},
        {"virus beats spam", rspamd_said("reject"), clamd_said(clamd_reply::kind::found, "X"),
         accept, 554, "5.7.1", "virus X"},
        {"reject beats a clamd tempfail", rspamd_said("reject"), clamd_in(scan_status::failed),
         tempfail, 550, "5.7.1", "spam"},
        {"rspamd down, tempfail",
         rspamd_in(scan_status::failed),
         {},
         tempfail,
         451,
         "4.7.1",
         "Spam scanner"},
        {"clamd down, tempfail", rspamd_said("no action"), clamd_in(scan_status::failed), tempfail,
         451, "4.7.1", "Virus scanner"},
        {"clamd ERROR, tempfail", rspamd_in(scan_status::off),
         clamd_said(clamd_reply::kind::error, "size limit exceeded. ERROR"), tempfail, 451, "4.7.1",
         "Virus scanner"},
    };
    for (const auto& c : cases) {
        auto v = decide(c.rspamd, c.clamd, c.policy);
        ASSERT_TRUE(v.refusal) << c.what;
        EXPECT_EQ(v.refusal->code, c.code) << c.what;
        EXPECT_EQ(v.refusal->enhanced, c.enhanced) << c.what;
        EXPECT_NE(v.refusal->text().find(c.text_has), std::string::npos)
            << c.what << ": " << v.refusal->text();
        EXPECT_FALSE(v.reason.empty()) << c.what;
        EXPECT_TRUE(v.headers.empty()) << c.what;
    }
}

TEST(FilterVerdict, AcceptedHeaders) {
    const failure_policy accept{};
    auto v = decide(rspamd_said("no action", 1.2), clamd_said(clamd_reply::kind::clean), accept);
    ASSERT_FALSE(v.refusal);
    EXPECT_EQ(v.headers.find("X-Spam: Yes"), std::string::npos);
    EXPECT_NE(v.headers.find("X-Spam-Status: No, score=1.20 required=15.00 action=no_action\r\n"),
              std::string::npos)
        << v.headers;
    // Symbols sorted by name, as rspamd's own header lists them.
    EXPECT_NE(v.headers.find("X-Spamd-Result: default: False [1.20 / 15.00]; ALPHA(2.00); "
                             "ZED(1.50)\r\n"),
              std::string::npos)
        << v.headers;
    EXPECT_NE(v.headers.find("X-Virus-Status: Clean\r\n"), std::string::npos);

    for (const char* spam : {"add header", "rewrite subject"}) {
        auto s = decide(rspamd_said(spam, 7), clamd_in(scan_status::off), accept);
        ASSERT_FALSE(s.refusal) << spam;
        EXPECT_TRUE(s.headers.starts_with("X-Spam: Yes\r\nX-Spam-Status: Yes, score=7.00"))
            << s.headers;
        EXPECT_EQ(s.headers.find("X-Virus-Status"), std::string::npos);
    }
}

TEST(FilterVerdict, FailuresAcceptedAsUnchecked) {
    const failure_policy accept{};
    auto v = decide(rspamd_in(scan_status::failed), clamd_in(scan_status::failed), accept);
    ASSERT_FALSE(v.refusal);
    EXPECT_EQ(v.headers, "X-Spam-Status: unchecked\r\nX-Virus-Status: unchecked\r\n");
    // Too large is never a tempfail, even under the tempfail policy (it would never pass).
    auto big = decide(rspamd_in(scan_status::skipped), clamd_in(scan_status::skipped),
                      failure_policy{true, true});
    ASSERT_FALSE(big.refusal);
    EXPECT_EQ(big.headers, "X-Spam-Status: unchecked (too large)\r\n"
                           "X-Virus-Status: unchecked (too large)\r\n");
    auto err = decide(rspamd_in(scan_status::off),
                      clamd_said(clamd_reply::kind::error, "boom ERROR"), accept);
    ASSERT_FALSE(err.refusal);
    EXPECT_EQ(err.headers, "X-Virus-Status: unchecked\r\n");
    auto off = decide(rspamd_in(scan_status::off), clamd_in(scan_status::off), accept);
    EXPECT_FALSE(off.refusal);
    EXPECT_EQ(off.headers, "");
}

TEST(FilterVerdict, MilterHeaders) {
    auto r = rspamd_said("no action");
    r.answer.add_headers = {{"X-Spamd-Bar", "+++"},
                            {"Bad Name", "dropped"},
                            {"X-Colon:", "dropped"},
                            {"X-Folded", "a\r\n\tb\r\nX-Injected: yes"},
                            {"X-Long", std::string(2000, 'x')}};
    r.answer.remove_headers = {"X-Spam"};
    auto v = decide(r, clamd_in(scan_status::off), {});
    EXPECT_NE(v.headers.find("X-Spamd-Bar: +++\r\n"), std::string::npos) << v.headers;
    EXPECT_EQ(v.headers.find("dropped"), std::string::npos);
    // Line breaks from rspamd become spaces: no header of its own can be smuggled in.
    EXPECT_NE(v.headers.find("X-Folded: a b X-Injected: yes\r\n"), std::string::npos) << v.headers;
    EXPECT_EQ(v.headers.find("\r\nX-Injected"), std::string::npos);
    auto pos = v.headers.find("X-Long: ");
    ASSERT_NE(pos, std::string::npos);
    EXPECT_LT(v.headers.find("\r\n", pos) - pos, 998u);
    EXPECT_EQ(v.edits.remove, std::vector<std::string>{"X-Spam"});
    EXPECT_FALSE(v.edits.subject); // only "rewrite subject" changes the subject
}

TEST(FilterVerdict, RewriteSubjectCarriesRspamdsSubject) {
    auto r = rspamd_said("rewrite subject", 9);
    r.answer.subject = "[SPAM] hello";
    auto v = decide(r, clamd_in(scan_status::off), {});
    ASSERT_FALSE(v.refusal);
    ASSERT_TRUE(v.edits.subject);
    EXPECT_EQ(*v.edits.subject, "[SPAM] hello");
    // "add header" with a subject in the answer does not rewrite.
    auto a = rspamd_said("add header", 9);
    a.answer.subject = "[SPAM] hello";
    EXPECT_FALSE(decide(a, clamd_in(scan_status::off), {}).edits.subject);
    // A rejected message has no edits to apply.
    auto rej = rspamd_said("reject", 20);
    rej.answer.remove_headers = {"X-Spam"};
    EXPECT_TRUE(decide(rej, clamd_in(scan_status::off), {}).edits.empty());
}

TEST(FilterHeaderEdits, RemovesEveryInstanceCaseInsensitivelyAndKeepsTheRest) {
    const std::string block = "Received: from a\r\n\tby b\r\nX-Spam: yes\r\nSubject: hi\r\n"
                              "x-spam: also\r\n  folded\r\nFrom: <a@b.example>\r\n\r\n";
    header_edits e;
    e.remove = {"X-SPAM"};
    EXPECT_EQ(apply_header_edits(block, e),
              "Received: from a\r\n\tby b\r\nSubject: hi\r\nFrom: <a@b.example>\r\n\r\n");
    // No edits: octet for octet.
    EXPECT_EQ(apply_header_edits(block, {}), block);
}

TEST(FilterHeaderEdits, SubjectReplacedInPlaceOnceAndSanitised) {
    const std::string block = "From: <a@b.example>\r\nSubject: buy\r\n now\r\nTo: <c@d.example>\r\n"
                              "Subject: second\r\n\r\n";
    header_edits e;
    e.subject = "*** SPAM *** buy now\r\nBcc: injected@evil.example";
    const auto out = apply_header_edits(block, e);
    EXPECT_EQ(out, "From: <a@b.example>\r\nSubject: *** SPAM *** buy now Bcc: "
                   "injected@evil.example\r\nTo: <c@d.example>\r\n\r\n");
    // A long subject is folded under 78 columns, never split inside a word.
    e.subject = "[SPAM] " + std::string(40, 'a') + " " + std::string(40, 'b') + " tail";
    const auto folded = apply_header_edits(block, e);
    EXPECT_NE(folded.find("Subject: [SPAM] " + std::string(40, 'a') + "\r\n\t" +
                          std::string(40, 'b') + " tail\r\n"),
              std::string::npos)
        << folded;
}

TEST(FilterHeaderEdits, SubjectAddedWhenMissing) {
    header_edits e;
    e.subject = "[SPAM]";
    EXPECT_EQ(apply_header_edits("From: <a@b.example>\r\n\r\n", e),
              "From: <a@b.example>\r\nSubject: [SPAM]\r\n\r\n");
    // A message that is all header, its last line without a line end.
    EXPECT_EQ(apply_header_edits("From: <a@b.example>", e),
              "From: <a@b.example>\r\nSubject: [SPAM]\r\n");
}

TEST(FilterVerdict, SpamdResultFoldsLongSymbolLists) {
    rspamd_answer a;
    a.score = 3;
    a.required_score = 15;
    for (int i = 0; i < 150; ++i) a.symbols.push_back({"SYMBOL_NUMBER_" + std::to_string(i), 0.1});
    a.symbols.push_back({"EVIL\r\nX-Bad: 1", 1});
    auto h = spamd_result_header(a, false);
    ASSERT_TRUE(h.ends_with("\r\n"));
    std::size_t start = 0, lines = 0;
    while (start < h.size()) {
        auto e = h.find("\r\n", start);
        EXPECT_LE(e - start, 80u) << h.substr(start, e - start);
        if (lines > 0) {
            EXPECT_EQ(h[start], '\t');
        }
        start = e + 2;
        ++lines;
    }
    EXPECT_GT(lines, 10u);
    EXPECT_EQ(h.find("X-Bad:"), std::string::npos);
    // At most 100 symbols are listed.
    EXPECT_EQ(std::count(h.begin(), h.end(), '('), 100);
}

} // namespace
} // namespace splitmail::relay::filter
