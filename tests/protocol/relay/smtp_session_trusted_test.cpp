// The inbound session with relay.trusted_networks (issue 3: the home tunnel peer may send to
// other domains without AUTH): foreign recipients are accepted and queued with route=remote,
// local ones keep route=home and are still checked; an untrusted client is still refused.
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
};

result play(bool trusted, const std::string& input) {
    session_config cfg;
    cfg.hostname = "mx.example.test";
    cfg.relay_allowed = trusted;
    checker ck;
    memory_sink sink;
    smtp_session s(cfg, ck, peer_info{"127.0.0.1", ""}, sink);
    result r;
    std::function<void(std::vector<action>)> apply = [&](std::vector<action> acts) {
        for (auto& a : acts) {
            if (a.type == action::kind::send) r.replies += a.reply.format();
            if (a.type == action::kind::deliver) {
                sink.delivered();
                r.delivered.push_back(std::move(*a.msg));
                apply(s.delivery_result(smtp::make_reply(250, "2.0.0", "queued")));
            }
        }
    };
    apply(s.greet());
    for (char c : input) apply(s.feed(std::string_view(&c, 1))); // byte by byte
    return r;
}

const std::string script = "EHLO home.example.test\r\n"
                           "MAIL FROM:<alice@example.test>\r\n"
                           "RCPT TO:<bob@remote.test>\r\n"
                           "RCPT TO:<alice@example.test>\r\n"
                           "RCPT TO:<nobody@example.test>\r\n"
                           "RCPT TO:<user%other.test@remote.test>\r\n"
                           "DATA\r\n"
                           "Subject: x\r\n\r\nhi\r\n.\r\n";

} // namespace

TEST(smtp_session_trusted, foreign_recipients_accepted_with_remote_route) {
    auto r = play(true, script);
    EXPECT_NE(r.replies.find("250 2.1.5 Ok\r\n250 2.1.5 Ok\r\n550 5.1.1 Error: user unknown\r\n"
                             "554 5.7.1 Relay access denied\r\n354"),
              std::string::npos)
        << r.replies;
    ASSERT_EQ(r.delivered.size(), 1u) << r.replies;
    const auto& rc = r.delivered[0].envelope.recipients;
    ASSERT_EQ(rc.size(), 2u);
    EXPECT_EQ(rc[0].address, "bob@remote.test");
    EXPECT_EQ(rc[0].route, queue::rcpt_route::remote);
    EXPECT_EQ(rc[1].address, "alice@example.test");
    EXPECT_EQ(rc[1].route, queue::rcpt_route::home);
}

TEST(smtp_session_trusted, untrusted_client_is_still_refused) {
    auto r = play(false, script);
    EXPECT_NE(r.replies.find("250 2.1.0 Ok\r\n554 5.7.1 Relay access denied\r\n250 2.1.5 Ok\r\n"),
              std::string::npos)
        << r.replies;
    ASSERT_EQ(r.delivered.size(), 1u);
    ASSERT_EQ(r.delivered[0].envelope.recipients.size(), 1u);
    EXPECT_EQ(r.delivered[0].envelope.recipients[0].route, queue::rcpt_route::home);
}

// Issue 11 item 4: mail the home server relays is not authenticated; its From: is not checked.
TEST(smtp_session_trusted, header_from_is_not_bound) {
    auto r = play(true, "EHLO home.example.test\r\nMAIL FROM:<alice@example.test>\r\n"
                        "RCPT TO:<bob@remote.test>\r\nDATA\r\nFrom: someone@else.test\r\n"
                        "From: other@else.test\r\n\r\nhi\r\n.\r\n");
    ASSERT_EQ(r.delivered.size(), 1u) << r.replies;
    EXPECT_FALSE(r.delivered[0].add_from);
}
