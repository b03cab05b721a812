// Command verbs and MAIL FROM / RCPT TO parsing: accepted forms, every error reply.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "splitmail/smtp/command.hpp"

using namespace splitmail::smtp;

TEST(command, verbs_case_insensitive_and_args) {
    struct c {
        std::string line;
        verb v;
        std::string args;
    };
    const std::vector<c> cases = {
        {"EHLO mx.example", verb::ehlo, "mx.example"},
        {"ehlo   mx.example  ", verb::ehlo, "mx.example"},
        {"HeLo x", verb::helo, "x"},
        {"LHLO relay", verb::lhlo, "relay"},
        {"mail FROM:<a@b>", verb::mail, "FROM:<a@b>"},
        {"RCPT TO:<a@b> NOTIFY=NEVER", verb::rcpt, "TO:<a@b> NOTIFY=NEVER"},
        {"DATA", verb::data, ""},
        {"bdat 10 LAST", verb::bdat, "10 LAST"},
        {"RSET", verb::rset, ""},
        {"noop", verb::noop, ""},
        {"QUIT", verb::quit, ""},
        {"HELP", verb::help, ""},
        {"VRFY root", verb::vrfy, "root"},
        {"EXPN list", verb::expn, "list"},
        {"StartTLS", verb::starttls, ""},
        {"AUTH PLAIN", verb::auth, "PLAIN"},
        {"XDIRECTORY", verb::xdirectory, ""},
        {"DATAX", verb::unknown, ""},
        {"", verb::unknown, ""},
        {"GET / HTTP/1.1", verb::unknown, "/ HTTP/1.1"},
    };
    for (const auto& tc : cases) {
        auto cmd = parse_command(tc.line);
        EXPECT_EQ(cmd.v, tc.v) << tc.line;
        EXPECT_EQ(cmd.args, tc.args) << tc.line;
    }
    EXPECT_EQ(verb_name(verb::starttls), "STARTTLS");
}

TEST(command, mail_from_accepted_forms) {
    auto r = parse_mail_from("FROM:<Alice@Example.ORG>");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->sender.local, "Alice");
    EXPECT_EQ(r->sender.domain, "example.org");
    EXPECT_FALSE(r->null_sender);

    r = parse_mail_from("from:<>");
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->null_sender);
    EXPECT_TRUE(r->sender.empty());

    r = parse_mail_from("FROM: <a@b.c>"); // lenient: space after the colon
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->sender.canonical(), "a@b.c");

    r = parse_mail_from("FROM:<@relay1.example,@relay2.example:joe@c.example>");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->sender.canonical(), "joe@c.example"); // route dropped

    r = parse_mail_from("FROM:<\"john smith\\\"x>\"@[192.0.2.1]> SIZE=1000 BODY=8BITMIME "
                        "RET=HDRS ENVID=QQ+2B314 AUTH=<> SMTPUTF8");
    ASSERT_TRUE(r.ok()) << r.error().format();
    EXPECT_EQ(r->sender.local, "john smith\"x>");
    EXPECT_EQ(r->sender.domain, "[192.0.2.1]");
    EXPECT_EQ(r->size, 1000u);
    EXPECT_EQ(r->body, body_type::eight_bit_mime);
    EXPECT_EQ(r->ret, ret_type::hdrs);
    EXPECT_EQ(r->envid, "QQ+2B314");
    EXPECT_EQ(r->auth, "<>");
    EXPECT_TRUE(r->smtputf8);

    r = parse_mail_from("FROM:<a@[IPv6:2001:db8::1]> size=99999999999999999999 body=7bit");
    ASSERT_TRUE(r.ok()) << r.error().format();
    EXPECT_EQ(r->size, UINT64_MAX);
    EXPECT_EQ(r->body, body_type::seven_bit);

    r = parse_mail_from("FROM:<jörg@bücher.example> SMTPUTF8");
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->utf8_address);
    r = parse_mail_from("FROM:<a@b.example>");
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->utf8_address);
}

TEST(command, mail_from_errors) {
    struct c {
        std::string args;
        int code;
        std::string enhanced;
    };
    const std::vector<c> cases = {
        {"", 501, "5.5.4"},
        {"FROM", 501, "5.5.4"},
        {"TO:<a@b>", 501, "5.5.4"},
        {"FROM:a@b", 501, "5.5.4"}, // brackets required
        {"FROM:<a@b", 501, "5.5.4"},
        {"FROM:<a@b>SIZE=1", 501, "5.5.4"}, // junk glued to '>'
        {"FROM:<a>", 501, "5.1.7"},
        {"FROM:<a@>", 501, "5.1.7"},
        {"FROM:<@b>", 501, "5.1.7"},
        {"FROM:<a..b@c>", 501, "5.1.7"},
        {"FROM:<a@-b.c>", 501, "5.1.7"},
        {"FROM:<a@b..c>", 501, "5.1.7"},
        {"FROM:<a@[1.2.3.256]>", 501, "5.1.7"},
        {"FROM:<a@[IPv6:zz::1]>", 501, "5.1.7"},
        {"FROM:<a@[foo:bar]>", 501, "5.1.7"},
        {"FROM:<@a:b>", 501, "5.1.7"},
        {"FROM:<@a b@c>", 501, "5.1.7"},
        {"FROM:<a b@c>", 501, "5.1.7"},
        {"FROM:<\"a@b>", 501, "5.5.4"},   // unterminated quote swallows '>'
        {"FROM:<a@b\xff>", 501, "5.1.7"}, // invalid UTF-8
        {"FROM:<a@b> SIZE=", 501, "5.5.4"},
        {"FROM:<a@b> SIZE=12x", 501, "5.5.4"},
        {"FROM:<a@b> SIZE=1 SIZE=2", 501, "5.5.4"},
        {"FROM:<a@b> SIZE=123456789012345678901", 501, "5.5.4"},
        {"FROM:<a@b> BODY=9BIT", 501, "5.5.4"},
        {"FROM:<a@b> RET=ALL", 501, "5.5.4"},
        {"FROM:<a@b> ENVID=a+zz", 501, "5.5.4"},
        {"FROM:<a@b> ENVID=" + std::string(101, 'a'), 501, "5.5.4"},
        {"FROM:<a@b> SMTPUTF8=yes", 501, "5.5.4"},
        {"FROM:<a@b> AUTH=a+", 501, "5.5.4"},
        {"FROM:<a@b> =x", 501, "5.5.4"},
        {"FROM:<a@b> X-FOO=1", 555, "5.5.4"},
        {"FROM:<a@b> NOTIFY=NEVER", 555, "5.5.4"}, // RCPT-only parameter
    };
    for (const auto& tc : cases) {
        auto r = parse_mail_from(tc.args);
        ASSERT_FALSE(r.ok()) << tc.args;
        EXPECT_EQ(r.error().code, tc.code) << tc.args;
        EXPECT_EQ(r.error().enhanced, tc.enhanced) << tc.args;
        EXPECT_FALSE(r.error().lines.empty());
    }
}

TEST(command, rcpt_to_forms_and_params) {
    auto r =
        parse_rcpt_to("TO:<Bob@Example.Test> NOTIFY=SUCCESS,failure ORCPT=rfc822;bob+40x.test");
    ASSERT_TRUE(r.ok()) << r.error().format();
    EXPECT_EQ(r->recipient.canonical(), "bob@example.test");
    EXPECT_EQ(r->notify, notify::success | notify::failure);
    EXPECT_EQ(r->orcpt_type, "rfc822");
    EXPECT_EQ(r->orcpt, "bob+40x.test");
    EXPECT_EQ(xtext_decode(r->orcpt), "bob@x.test");

    r = parse_rcpt_to("to:<postmaster>");
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r->postmaster);
    EXPECT_EQ(r->recipient.domain, "");

    r = parse_rcpt_to("TO:<Postmaster@example.test>");
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->postmaster);

    r = parse_rcpt_to("TO:<@a.example:user@b.example> NOTIFY=NEVER");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->recipient.canonical(), "user@b.example");
    EXPECT_EQ(r->notify, notify::never);

    // Routing characters are just local-part characters.
    r = parse_rcpt_to("TO:<user%foreign.example@example.test>");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->recipient.local, "user%foreign.example");
    EXPECT_EQ(r->recipient.domain, "example.test");
    r = parse_rcpt_to("TO:<\"a@foreign.example\"@example.test>");
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->recipient.local, "a@foreign.example");
    EXPECT_EQ(r->recipient.domain, "example.test");
}

TEST(command, rcpt_to_errors) {
    struct c {
        std::string args;
        int code;
        std::string enhanced;
    };
    const std::vector<c> cases = {
        {"TO:<>", 501, "5.1.3"},
        {"FROM:<a@b>", 501, "5.5.4"},
        {"TO:a@b", 501, "5.5.4"},
        {"TO:<a>", 501, "5.1.3"},
        {"TO:<a@b> NOTIFY=NEVER,SUCCESS", 501, "5.5.4"},
        {"TO:<a@b> NOTIFY=SUCCESS,SUCCESS", 501, "5.5.4"},
        {"TO:<a@b> NOTIFY=SOMETIMES", 501, "5.5.4"},
        {"TO:<a@b> NOTIFY=", 501, "5.5.4"},
        {"TO:<a@b> NOTIFY=DELAY NOTIFY=DELAY", 501, "5.5.4"},
        {"TO:<a@b> ORCPT=a@b", 501, "5.5.4"},
        {"TO:<a@b> ORCPT=;a@b", 501, "5.5.4"},
        {"TO:<a@b> ORCPT=rfc822;", 501, "5.5.4"},
        {"TO:<a@b> ORCPT=rfc822;a+4", 501, "5.5.4"},
        {"TO:<a@b> ORCPT=rfc822;" + std::string(600, 'a'), 501, "5.5.4"},
        {"TO:<a@b> SIZE=10", 555, "5.5.4"},
    };
    for (const auto& tc : cases) {
        auto r = parse_rcpt_to(tc.args);
        ASSERT_FALSE(r.ok()) << tc.args;
        EXPECT_EQ(r.error().code, tc.code) << tc.args;
        EXPECT_EQ(r.error().enhanced, tc.enhanced) << tc.args;
    }
}

TEST(command, xtext_round_trip) {
    EXPECT_TRUE(valid_xtext(""));
    EXPECT_TRUE(valid_xtext("abc+2B+3D"));
    EXPECT_FALSE(valid_xtext("a=b"));
    EXPECT_FALSE(valid_xtext("a b"));
    EXPECT_FALSE(valid_xtext("+2"));
    EXPECT_FALSE(valid_xtext("+G0"));
    EXPECT_EQ(xtext_encode("a+b=c d\xc3\xa9"), "a+2Bb+3Dc+20d+C3+A9");
    EXPECT_EQ(xtext_decode(xtext_encode("a+b=c d\xc3\xa9")), "a+b=c d\xc3\xa9");
    EXPECT_EQ(xtext_decode("+2b"), "+"); // lower-case hex tolerated on input
    EXPECT_FALSE(xtext_decode("x+").has_value());
}
