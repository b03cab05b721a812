// The session on a submission port (issue 3; RFC 6409, RFC 4954, RFC 4616, RFC 8314): AUTH only
// after TLS, PLAIN and LOGIN, MAIL needs AUTH, sending only as one's own addresses, relaying to
// any domain once authenticated, and a Received: without the client's address.
#include <gtest/gtest.h>

#include "smtp_in/session.hpp"

using namespace splitmail;
using namespace splitmail::relay;

namespace {

class checker final : public recipient_checker {
public:
    rcpt_verdict check_recipient(const address::mailbox& m) override {
        if (m.domain != "example.test") return rcpt_verdict::not_local;
        return address::lower_ascii(m.local) == "alice" ? rcpt_verdict::local_ok
                                                        : rcpt_verdict::unknown;
    }
};

struct result {
    std::string replies;
    std::vector<delivery> delivered;
    std::vector<std::pair<std::string, std::string>> checked; // user, password
};

result play(const std::string& input, bool submission = true, bool tls_first = true,
            bool show_client = false, bool show_user = true) {
    session_config cfg;
    cfg.submission_show_client = show_client;
    cfg.submission_show_user = show_user;
    cfg.hostname = "relay.example.test";
    cfg.tls_available = true;
    cfg.require_tls = submission;
    cfg.submission = submission;
    checker ck;
    memory_sink sink;
    smtp_session s(cfg, ck, peer_info{"198.51.100.7", "client.example.net"}, sink);
    result r;
    std::function<void(std::vector<action>)> apply = [&](std::vector<action> acts) {
        for (auto& a : acts) {
            switch (a.type) {
            case action::kind::send: r.replies += a.reply.format(); break;
            case action::kind::start_tls: apply(s.tls_started({"TLSv1.3", "TLS_AES_128"})); break;
            case action::kind::deliver:
                sink.delivered();
                r.delivered.push_back(std::move(*a.msg));
                apply(s.delivery_result(smtp::make_reply(250, "2.0.0", "queued")));
                break;
            case action::kind::authenticate: {
                r.checked.emplace_back(a.user, a.password.str());
                auth_outcome o;
                if (a.user == "alice@example.test" && a.password.view() == "pw") {
                    o.st = auth_outcome::status::ok;
                    o.user = a.user;
                    o.addresses = {"alice@example.test", "info@example.test"};
                } else if (a.user == "temp@example.test") {
                    o.st = auth_outcome::status::temporary;
                }
                apply(s.auth_result(std::move(o)));
                break;
            }
            case action::kind::close: break;
            case action::kind::delay: break;
            }
        }
    };
    apply(s.greet());
    std::string in = tls_first ? "EHLO c\r\nSTARTTLS\r\n" + input : input;
    for (char c : in) apply(s.feed(std::string_view(&c, 1))); // byte by byte
    return r;
}

std::string plain(std::string_view authz, std::string_view user, std::string_view pw) {
    std::string raw = std::string(authz) + '\0' + std::string(user) + '\0' + std::string(pw);
    return encode_base64(raw);
}

const std::string msg = "DATA\r\nFrom: alice@example.test\r\nSubject: x\r\n\r\nhi\r\n.\r\n";

bool has(const result& r, std::string_view s) { return r.replies.find(s) != std::string::npos; }

} // namespace

TEST(smtp_session_submission, before_tls_everything_but_starttls_is_refused) {
    auto r = play("EHLO c\r\nAUTH PLAIN " + plain("", "alice@example.test", "pw") +
                      "\r\nMAIL FROM:<alice@example.test>\r\n",
                  true, false);
    EXPECT_FALSE(has(r, "AUTH PLAIN LOGIN")) << r.replies; // not advertised before TLS
    EXPECT_TRUE(has(r, "250-STARTTLS"));
    EXPECT_TRUE(has(r, "530 5.7.0 Must issue a STARTTLS command first\r\n"
                       "530 5.7.0 Must issue a STARTTLS command first\r\n"))
        << r.replies;
    EXPECT_TRUE(r.checked.empty());
}

TEST(smtp_session_submission, auth_advertised_after_tls_only) {
    auto r = play("EHLO c\r\n");
    auto after = r.replies.substr(r.replies.find("220 2.0.0"));
    EXPECT_NE(after.find("250-AUTH PLAIN LOGIN\r\n"), std::string::npos) << r.replies;
    EXPECT_EQ(after.find("STARTTLS"), std::string::npos);
}

TEST(smtp_session_submission, mail_without_auth_is_530) {
    auto r = play("EHLO c\r\nMAIL FROM:<alice@example.test>\r\n");
    EXPECT_TRUE(has(r, "530 5.7.0 Authentication required\r\n")) << r.replies;
}

TEST(smtp_session_submission, plain_with_initial_response_then_send_anywhere) {
    auto r = play("EHLO c\r\nAUTH PLAIN " + plain("", "alice@example.test", "pw") +
                  "\r\nMAIL FROM:<Alice@example.test>\r\nRCPT TO:<bob@remote.test>\r\n"
                  "RCPT TO:<alice@example.test>\r\n" +
                  msg);
    EXPECT_TRUE(has(r, "235 2.7.0 Authentication successful\r\n")) << r.replies;
    ASSERT_EQ(r.checked.size(), 1u);
    EXPECT_EQ(r.checked[0].first, "alice@example.test");
    EXPECT_EQ(r.checked[0].second, "pw");
    ASSERT_EQ(r.delivered.size(), 1u) << r.replies;
    const auto& d = r.delivered[0];
    EXPECT_EQ(d.auth_user, "alice@example.test");
    ASSERT_EQ(d.envelope.recipients.size(), 2u);
    EXPECT_EQ(d.envelope.recipients[0].route, queue::rcpt_route::remote);
    EXPECT_EQ(d.envelope.recipients[1].route, queue::rcpt_route::home);
    EXPECT_EQ(d.protocol, "ESMTPSA");
    auto rec = d.received_header("Q1");
    EXPECT_EQ(rec.find("198.51.100.7"), std::string::npos) << rec;
    EXPECT_EQ(rec.find("client.example.net"), std::string::npos) << rec;
    EXPECT_NE(rec.find("with ESMTPSA id Q1"), std::string::npos) << rec;
    // No AUTH twice (RFC 4954 4).
    auto again = play("EHLO c\r\nAUTH PLAIN " + plain("", "alice@example.test", "pw") +
                      "\r\nAUTH PLAIN " + plain("", "alice@example.test", "pw") + "\r\n");
    EXPECT_TRUE(has(again, "503 5.5.1 Error: already authenticated")) << again.replies;
}

TEST(smtp_session_submission, plain_with_challenge_and_login) {
    auto r = play("EHLO c\r\nAUTH PLAIN\r\n" + plain("", "alice@example.test", "pw") + "\r\n");
    EXPECT_TRUE(has(r, "334 \r\n235 2.7.0")) << r.replies;
    r = play("EHLO c\r\nAUTH LOGIN\r\n" + encode_base64("alice@example.test") + "\r\n" +
             encode_base64("pw") + "\r\nMAIL FROM:<info@example.test>\r\n");
    EXPECT_TRUE(has(r, "334 VXNlcm5hbWU6\r\n334 UGFzc3dvcmQ6\r\n235 2.7.0")) << r.replies;
    EXPECT_TRUE(has(r, "235 2.7.0 Authentication successful\r\n250 2.1.0 Ok\r\n")) << r.replies;
    // LOGIN with the user name as initial response.
    r = play("EHLO c\r\nAUTH login " + encode_base64("alice@example.test") + "\r\n" +
             encode_base64("pw") + "\r\n");
    EXPECT_TRUE(has(r, "334 UGFzc3dvcmQ6\r\n235 2.7.0")) << r.replies;
}

TEST(smtp_session_submission, failures) {
    auto r = play("EHLO c\r\nAUTH PLAIN " + plain("", "alice@example.test", "wrong") +
                  "\r\nMAIL FROM:<alice@example.test>\r\n");
    EXPECT_TRUE(has(r, "535 5.7.8 Error: authentication failed\r\n"
                       "530 5.7.0 Authentication required\r\n"))
        << r.replies;
    r = play("EHLO c\r\nAUTH LOGIN\r\n" + encode_base64("alice@example.test") + "\r\n" +
             encode_base64("nope") + "\r\n");
    EXPECT_TRUE(has(r, "535 5.7.8")) << r.replies;
    r = play("EHLO c\r\nAUTH CRAM-MD5\r\n");
    EXPECT_TRUE(has(r, "504 5.5.4")) << r.replies;
    r = play("EHLO c\r\nAUTH PLAIN\r\n*\r\n");
    EXPECT_TRUE(has(r, "501 5.0.0 Authentication cancelled")) << r.replies;
    r = play("EHLO c\r\nAUTH PLAIN !!notbase64\r\n");
    EXPECT_TRUE(has(r, "501 5.5.2")) << r.replies;
    // An authzid other than the login: acting as someone else is refused without asking home.
    r = play("EHLO c\r\nAUTH PLAIN " + plain("bob@example.test", "alice@example.test", "pw") +
             "\r\n");
    EXPECT_TRUE(has(r, "535 5.7.8")) << r.replies;
    EXPECT_TRUE(r.checked.empty());
    r = play("EHLO c\r\nAUTH PLAIN " + plain("", "temp@example.test", "x") + "\r\n");
    EXPECT_TRUE(has(r, "454 4.7.0 Temporary authentication failure")) << r.replies;
}

TEST(smtp_session_submission, sending_as_someone_else_is_553) {
    auto r = play("EHLO c\r\nAUTH PLAIN " + plain("", "alice@example.test", "pw") +
                  "\r\nMAIL FROM:<bob@example.test>\r\nMAIL FROM:<>\r\n"
                  "MAIL FROM:<alice@evil.test>\r\n");
    EXPECT_TRUE(has(r, "235 2.7.0 Authentication successful\r\n"
                       "553 5.7.1 Error: sender address not owned by user alice@example.test\r\n"
                       "553 5.7.1 Error: sender address not owned by user alice@example.test\r\n"
                       "553 5.7.1 Error: sender address not owned by user alice@example.test\r\n"))
        << r.replies;
}

TEST(smtp_session_submission, port_25_still_offers_no_auth_and_no_relay) {
    auto r = play("EHLO c\r\nAUTH PLAIN " + plain("", "alice@example.test", "pw") +
                      "\r\nMAIL FROM:<x@remote.test>\r\nRCPT TO:<bob@remote.test>\r\n",
                  false, true);
    EXPECT_FALSE(has(r, "AUTH PLAIN LOGIN"));
    EXPECT_TRUE(has(r, "503 5.5.1 Error: authentication not enabled")) << r.replies;
    EXPECT_TRUE(has(r, "554 5.7.1 Relay access denied")) << r.replies;
    EXPECT_TRUE(r.checked.empty());
}

TEST(smtp_session_submission, show_client_setting_puts_the_address_back) {
    const std::string in =
        "EHLO laptop.lan\r\nAUTH PLAIN " + plain("", "alice@example.test", "pw") +
        "\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@remote.test>\r\n" + msg;
    auto hidden = play(in);
    ASSERT_EQ(hidden.delivered.size(), 1u);
    auto h = hidden.delivered[0].received_header("Q");
    EXPECT_EQ(h.find("laptop.lan"), std::string::npos) << h;
    auto shown = play(in, true, true, true);
    ASSERT_EQ(shown.delivered.size(), 1u);
    auto s = shown.delivered[0].received_header("Q");
    EXPECT_NE(s.find("from laptop.lan (client.example.net [198.51.100.7])"), std::string::npos)
        << s;
}

// Issue 11 item 4: the header author is bound to the login like the envelope sender.
TEST(smtp_session_submission, forged_header_from_is_550_and_not_delivered) {
    const std::string login = "EHLO c\r\nAUTH PLAIN " + plain("", "alice@example.test", "pw") +
                              "\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<x@remote.test>\r\n"
                              "DATA\r\n";
    struct row {
        std::string header;
        std::string reply;
    };
    for (const row& r : std::vector<row>{
             {"From: bob@example.test\r\n",
              "550 5.7.1 Error: From: address bob@example.test not owned by user "
              "alice@example.test\r\n"},
             {"From: \"bob@example.test\" <alice@example.test>\r\n",
              "550 5.7.1 Error: From: display name or comment shows address bob@example.test, "
              "not owned by user alice@example.test\r\n"},
             {"From: =?utf-8?Q?bob=40example.test?= <alice@example.test>\r\n",
              "550 5.7.1 Error: From: display name or comment shows address bob@example.test"},
             {"From: alice@example.test\r\nFrom: bob@example.test\r\n",
              "550 5.7.1 Error: more than one From: field (RFC 5322 3.6)\r\n"},
             {"From: alice@example.test, bob@example.test\r\n",
              "550 5.7.1 Error: From: address bob@example.test not owned"},
             {"From: alice@example.test\r\nSender: bob@example.test\r\n",
              "550 5.7.1 Error: Sender: address bob@example.test not owned"},
         }) {
        auto res = play(login + r.header +
                        "Subject: x\r\n\r\nFrom: bob@example.test\r\n.\r\n"
                        "MAIL FROM:<alice@example.test>\r\n");
        EXPECT_TRUE(has(res, "354 End data")) << res.replies;
        EXPECT_TRUE(has(res, r.reply)) << r.header << res.replies;
        EXPECT_TRUE(res.delivered.empty()) << r.header;
        // The session is ready for the next message.
        EXPECT_TRUE(res.replies.ends_with("250 2.1.0 Ok\r\n")) << res.replies;
    }
}

TEST(smtp_session_submission, own_from_and_alias_are_delivered_missing_from_is_added) {
    const std::string login = "EHLO c\r\nAUTH PLAIN " + plain("", "alice@example.test", "pw") +
                              "\r\nMAIL FROM:<info@example.test>\r\nRCPT TO:<x@remote.test>\r\n"
                              "DATA\r\n";
    for (const char* h :
         {"From: Alice <ALICE@example.test>\r\n",
          "From: \"Info desk\" <info@example.test>\r\nSender: alice@example.test\r\n"}) {
        auto r = play(login + h + "\r\nhi\r\n.\r\n");
        ASSERT_EQ(r.delivered.size(), 1u) << h << r.replies;
        EXPECT_FALSE(r.delivered[0].add_from);
    }
    auto r = play(login + "Subject: no author\r\n\r\nhi\r\n.\r\n");
    ASSERT_EQ(r.delivered.size(), 1u) << r.replies;
    EXPECT_TRUE(r.delivered[0].add_from);
    EXPECT_EQ(r.delivered[0].envelope.sender, "info@example.test");
}

TEST(smtp_session_submission, received_names_the_authenticated_user_unless_turned_off) {
    const std::string in =
        "EHLO laptop.lan\r\nAUTH PLAIN " + plain("", "alice@example.test", "pw") +
        "\r\nMAIL FROM:<alice@example.test>\r\nRCPT TO:<bob@remote.test>\r\n" + msg;
    auto on = play(in);
    ASSERT_EQ(on.delivered.size(), 1u);
    auto h = on.delivered[0].received_header("Q");
    EXPECT_TRUE(h.starts_with("Received: (Authenticated sender: alice@example.test)\r\n")) << h;
    auto shown = play(in, true, true, true);
    ASSERT_EQ(shown.delivered.size(), 1u);
    h = shown.delivered[0].received_header("Q");
    EXPECT_NE(h.find("[198.51.100.7])\r\n\t(Authenticated sender: alice@example.test)\r\n"),
              std::string::npos)
        << h;
    auto off = play(in, true, true, false, false);
    ASSERT_EQ(off.delivered.size(), 1u);
    h = off.delivered[0].received_header("Q");
    EXPECT_EQ(h.find("alice"), std::string::npos) << h;
    EXPECT_TRUE(h.starts_with("Received: (authenticated sender)\r\n")) << h;
}
