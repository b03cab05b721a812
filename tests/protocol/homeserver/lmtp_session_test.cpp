// Scripted LMTP sessions against the pure state machine, each fed whole and byte by byte.
#include "lmtp/session.hpp"

#include <gtest/gtest.h>

#include <map>

using namespace splitmail::home::lmtp;
using splitmail::smtp::make_reply;
using splitmail::smtp::reply;

namespace {

// Users: a@x.test, b@x.test; list@x.test -> a, b; full@x.test (deliveries fail 452);
// temp@x.test (lookup tempfail).
session_hooks hooks() {
    session_hooks h;
    h.resolve = [](const splitmail::smtp::rcpt_to& r) {
        rcpt_verdict v;
        auto a = r.recipient.canonical();
        if (a == "a@x.test" || a == "b@x.test" || a == "full@x.test")
            v.users = {a};
        else if (a == "a+tag@x.test")
            v.users = {"a@x.test"};
        else if (a == "list@x.test")
            v.users = {"a@x.test", "b@x.test"};
        else if (a == "temp@x.test")
            v.refusal = make_reply(451, "4.3.0", "lookup failed");
        else
            v.refusal = make_reply(550, "5.1.1", "<" + a + ">: user unknown");
        return v;
    };
    h.directory = [] { return std::vector<std::string>{"version 1", "rcpt a@x.test", "end"}; };
    return h;
}

struct transcript {
    std::string out;
    std::vector<delivery_job> jobs;
    std::vector<std::string> bodies; // the streamed message of each job
    std::size_t begins = 0, discards = 0;
    std::size_t max_chunk = 0; // largest step.body seen
    bool closed = false;
};

// Per-recipient results: "full@" gets 452 4.2.2, the rest 250.
std::vector<reply> results(const delivery_job& j) {
    std::vector<reply> r;
    for (const auto& rc : j.rcpts)
        r.push_back(rc.address == "full@x.test"
                        ? make_reply(452, "4.2.2", "Mailbox full")
                        : make_reply(250, "2.0.0", "<" + rc.address + "> delivered"));
    return r;
}

transcript run(std::string_view input, bool byte_by_byte, session_options opt = {}) {
    opt.hostname = "home.test";
    session s(opt, hooks());
    transcript t;
    t.out = s.greeting();
    std::string body;
    auto pump = [&] {
        auto st = s.advance();
        while (st.job || st.begin || st.discard || !st.body.empty()) {
            t.out += st.output;
            if (st.begin) {
                ++t.begins;
                body.clear();
            }
            t.max_chunk = std::max(t.max_chunk, st.body.size());
            body += st.body;
            if (st.discard) ++t.discards;
            if (st.job) {
                t.jobs.push_back(*st.job);
                t.bodies.push_back(body);
                s.delivered(results(*st.job));
            }
            st = s.advance();
        }
        t.out += st.output;
        if (st.close) t.closed = true;
    };
    if (byte_by_byte) {
        for (char c : input) {
            s.feed(std::string_view(&c, 1));
            pump();
        }
    } else {
        s.feed(input);
    }
    pump();
    return t;
}

// Runs the script both ways and checks both give the same, expected transcript.
transcript both(std::string_view input, std::string_view expected, session_options opt = {}) {
    auto whole = run(input, false, opt);
    auto bytes = run(input, true, opt);
    EXPECT_EQ(whole.out, expected);
    EXPECT_EQ(bytes.out, expected) << "byte by byte";
    EXPECT_EQ(whole.jobs.size(), bytes.jobs.size());
    for (std::size_t i = 0; i < std::min(whole.jobs.size(), bytes.jobs.size()); ++i)
        EXPECT_EQ(whole.bodies[i], bytes.bodies[i]);
    EXPECT_EQ(whole.closed, bytes.closed);
    return whole;
}

const std::string kGreeting = "220 home.test LMTP splitmail ready\r\n";
const std::string kLhlo = "250-home.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n"
                          "250-8BITMIME\r\n250-SMTPUTF8\r\n250-SIZE 67108864\r\n250 XDIRECTORY\r\n";

} // namespace

TEST(LmtpSession, PerRecipientRepliesInRcptOrder) {
    auto t = both("LHLO relay.test\r\n"
                  "MAIL FROM:<s@ext.test> BODY=8BITMIME\r\n"
                  "RCPT TO:<a@x.test>\r\n"
                  "RCPT TO:<nobody@x.test>\r\n"
                  "RCPT TO:<full@x.test>\r\n"
                  "RCPT TO:<temp@x.test>\r\n"
                  "RCPT TO:<B@X.TEST>\r\n"
                  "DATA\r\n"
                  "Subject: t\r\n\r\n..dot\r\nbody\r\n.\r\n"
                  "QUIT\r\n",
                  kGreeting + kLhlo +
                      "250 2.1.0 Ok\r\n"
                      "250 2.1.5 Ok\r\n"
                      "550 5.1.1 <nobody@x.test>: user unknown\r\n"
                      "250 2.1.5 Ok\r\n"
                      "451 4.3.0 lookup failed\r\n"
                      "250 2.1.5 Ok\r\n"
                      "354 End data with <CR><LF>.<CR><LF>\r\n"
                      "250 2.0.0 <a@x.test> delivered\r\n"
                      "452 4.2.2 Mailbox full\r\n"
                      "250 2.0.0 <b@x.test> delivered\r\n"
                      "221 2.0.0 home.test closing connection\r\n");
    ASSERT_EQ(t.jobs.size(), 1u);
    const auto& j = t.jobs[0];
    EXPECT_EQ(j.sender, "s@ext.test");
    ASSERT_EQ(j.rcpts.size(), 3u);
    EXPECT_EQ(j.rcpts[0].address, "a@x.test");
    EXPECT_EQ(j.rcpts[1].address, "full@x.test");
    EXPECT_EQ(j.rcpts[2].address, "b@x.test");
    EXPECT_EQ(t.bodies[0], "Subject: t\r\n\r\n.dot\r\nbody\r\n");
    EXPECT_TRUE(t.closed);
}

TEST(LmtpSession, PipelinedTransactionsAndAliases) {
    auto t = both("LHLO r\r\nMAIL FROM:<>\r\nRCPT TO:<list@x.test>\r\nRCPT TO:<a+tag@x.test>\r\n"
                  "DATA\r\nm1\r\n.\r\nMAIL FROM:<s@e.test>\r\nRCPT TO:<a@x.test>\r\nDATA\r\n"
                  "m2\r\n.\r\nNOOP\r\n",
                  kGreeting + kLhlo +
                      "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with "
                      "<CR><LF>.<CR><LF>\r\n250 2.0.0 <list@x.test> delivered\r\n"
                      "250 2.0.0 <a+tag@x.test> delivered\r\n"
                      "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
                      "250 2.0.0 <a@x.test> delivered\r\n250 2.0.0 Ok\r\n");
    ASSERT_EQ(t.jobs.size(), 2u);
    EXPECT_EQ(t.jobs[0].sender, "");
    EXPECT_EQ(t.jobs[0].rcpts[0].users, (std::vector<std::string>{"a@x.test", "b@x.test"}));
    EXPECT_EQ(t.jobs[0].rcpts[1].users, std::vector<std::string>{"a@x.test"});
    EXPECT_EQ(t.bodies[0], "m1\r\n");
    EXPECT_EQ(t.bodies[1], "m2\r\n");
    EXPECT_FALSE(t.closed);
}

TEST(LmtpSession, SmugglingRefusedForEveryRecipient) {
    // Each variant must not end the data: the smuggled MAIL is body text, and the one real
    // terminator ends it with a refusal per recipient; no job is produced.
    const char* variants[] = {
        "a\n.\nMAIL FROM:<evil@e.test>\r\n", "a\n.\r\nMAIL FROM:<evil@e.test>\r\n",
        "a\r\n.\nMAIL FROM:<evil@e.test>\r\n", "a\r.\rMAIL FROM:<evil@e.test>\r\n", "bare\rcr\r\n"};
    for (const char* v : variants) {
        SCOPED_TRACE(v);
        auto t = both(std::string("LHLO r\r\nMAIL FROM:<s@e.test>\r\nRCPT TO:<a@x.test>\r\n"
                                  "RCPT TO:<b@x.test>\r\nDATA\r\n") +
                          v + ".\r\nRSET\r\n",
                      kGreeting + kLhlo +
                          "250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n354 End data with "
                          "<CR><LF>.<CR><LF>\r\n"
                          "550 5.5.2 Bare CR or LF in message; use CRLF\r\n"
                          "550 5.5.2 Bare CR or LF in message; use CRLF\r\n250 2.0.0 Ok\r\n");
        EXPECT_TRUE(t.jobs.empty());
    }
}

TEST(LmtpSession, SizeLimit) {
    session_options opt;
    opt.max_message_size = 10;
    auto lhlo = "250-home.test\r\n250-PIPELINING\r\n250-ENHANCEDSTATUSCODES\r\n250-8BITMIME\r\n"
                "250-SMTPUTF8\r\n250-SIZE 10\r\n250 XDIRECTORY\r\n";
    auto t = both("LHLO r\r\nMAIL FROM:<s@e.test> SIZE=11\r\nMAIL FROM:<s@e.test> SIZE=10\r\n"
                  "RCPT TO:<a@x.test>\r\nDATA\r\n0123456789ABC\r\n.\r\n",
                  kGreeting + lhlo +
                      "552 5.3.4 Message size exceeds fixed limit\r\n250 2.1.0 Ok\r\n"
                      "250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n"
                      "552 5.3.4 Message size exceeds fixed limit\r\n",
                  opt);
    EXPECT_TRUE(t.jobs.empty());
}

TEST(LmtpSession, SequenceErrorsAndHeloEhlo) {
    both("MAIL FROM:<s@e.test>\r\nHELO x\r\nEHLO x\r\nLHLO\r\nLHLO r\r\nRCPT TO:<a@x.test>\r\n"
         "DATA\r\nMAIL FROM:<s@e.test>\r\nDATA\r\nMAIL FROM:<t@e.test>\r\nRCPT TO:<zz@x.test>\r\n"
         "DATA\r\nDATA x\r\nSTARTTLS\r\nFOO\r\nVRFY a\r\nRSET\r\nRCPT TO:<a@x.test>\r\n",
         kGreeting +
             "503 5.5.1 Say LHLO first\r\n"
             "500 5.5.1 This is LMTP: say LHLO (RFC 2033)\r\n"
             "500 5.5.1 This is LMTP: say LHLO (RFC 2033)\r\n"
             "501 5.5.4 LHLO needs your host name\r\n" +
             kLhlo +
             "503 5.5.1 Need MAIL first\r\n"
             "503 5.5.1 Need MAIL first\r\n"
             "250 2.1.0 Ok\r\n"
             "503 5.5.1 No valid recipients\r\n"
             "503 5.5.1 Nested MAIL command\r\n"
             "550 5.1.1 <zz@x.test>: user unknown\r\n"
             "503 5.5.1 No valid recipients\r\n"
             "501 5.5.4 DATA takes no arguments\r\n"
             "502 5.5.1 Command not implemented\r\n"
             "500 5.5.1 Command not recognized\r\n"
             "252 2.5.0 Send some mail and see\r\n"
             "250 2.0.0 Ok\r\n"
             "503 5.5.1 Need MAIL first\r\n");
}

TEST(LmtpSession, SyntaxErrorsComeFromTheSharedParser) {
    auto t = run("LHLO r\r\nMAIL FROM:s@e.test\r\nMAIL FROM:<s@e.test> FOO=1\r\n", false);
    EXPECT_NE(t.out.find("\r\n501 5.5.4"), std::string::npos) << t.out;
    EXPECT_NE(t.out.find("\r\n555 5.5.4"), std::string::npos) << t.out;
}

TEST(LmtpSession, Utf8NeedsSmtputf8) {
    both("LHLO r\r\nMAIL FROM:<s\xC3\xA9@e.test>\r\nMAIL FROM:<s\xC3\xA9@e.test> SMTPUTF8\r\n",
         kGreeting + kLhlo + "553 5.6.7 Non-ASCII address requires SMTPUTF8\r\n250 2.1.0 Ok\r\n");
}

TEST(LmtpSession, TooManyRecipients) {
    session_options opt;
    opt.max_recipients = 2;
    auto t = run("LHLO r\r\nMAIL FROM:<s@e.test>\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<b@x.test>\r\n"
                 "RCPT TO:<a@x.test>\r\n",
                 true, opt);
    EXPECT_TRUE(
        t.out.ends_with("250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n452 4.5.3 Too many recipients\r\n"))
        << t.out;
}

TEST(LmtpSession, LongLineAndControlCharacters) {
    std::string longline = "NOOP " + std::string(1200, 'x') + "\r\n";
    both("LHLO r\r\n" + longline + "NOOOP\r\nNOOP\r\n",
         kGreeting + kLhlo +
             "500 5.5.2 Line too long\r\n500 5.5.1 Command not recognized\r\n"
             "250 2.0.0 Ok\r\n");
    both(std::string("LHLO r\r\nNO\0OP\r\nNOOP\r\n", 21),
         kGreeting + kLhlo + "500 5.5.2 Invalid characters in command\r\n250 2.0.0 Ok\r\n");
}

TEST(LmtpSession, TooManyErrorsCloses) {
    session_options opt;
    opt.max_errors = 3;
    auto t = run("X\r\nX\r\nX\r\nNOOP\r\n", false, opt);
    EXPECT_EQ(t.out, kGreeting + "500 5.5.1 Command not recognized\r\n"
                                 "500 5.5.1 Command not recognized\r\n"
                                 "500 5.5.1 Command not recognized\r\n"
                                 "421 4.7.0 home.test too many errors, closing\r\n");
    EXPECT_TRUE(t.closed);
}

TEST(LmtpSession, Xdirectory) {
    both("XDIRECTORY\r\nLHLO r\r\nXDIRECTORY\r\n",
         kGreeting + "503 5.5.1 Say LHLO first\r\n" + kLhlo +
             "250-version 1\r\n250-rcpt a@x.test\r\n250 end\r\n");
}

TEST(LmtpSession, NothingProcessedWhileDelivering) {
    session_options opt;
    opt.hostname = "h";
    session s(opt, hooks());
    s.feed("LHLO r\r\nMAIL FROM:<>\r\nRCPT TO:<a@x.test>\r\nDATA\r\nx\r\n.\r\nNOOP\r\n");
    auto st = s.advance();
    ASSERT_TRUE(st.begin); // DATA accepted: the caller opens the message file
    EXPECT_FALSE(st.job);
    st = s.advance();
    EXPECT_EQ(st.body, "x\r\n");
    ASSERT_TRUE(st.job);
    EXPECT_TRUE(s.awaiting_delivery());
    s.feed("NOOP\r\n");
    auto idle = s.advance();
    EXPECT_EQ(idle.output, "");
    EXPECT_FALSE(idle.job);
    s.delivered({}); // a missing result still gives one reply per recipient
    auto after = s.advance();
    EXPECT_EQ(after.output,
              "451 4.3.0 Local error in delivery\r\n250 2.0.0 Ok\r\n250 2.0.0 Ok\r\n");
}
