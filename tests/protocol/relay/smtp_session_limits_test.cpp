// The session's abuse limits (issue 11 items 7 and 8): commands that make no progress are
// counted until a message is accepted (421 4.7.0 past the limit); refused RCPTs are counted per
// session (a delay action before each refusal past the soft limit, 421 4.7.0 at the hard limit)
// and reported to the per-network tracker, which can refuse RCPT for the whole network.
// Every script is fed whole and byte by byte; the transcripts must match.
#include <gtest/gtest.h>

#include "smtp_in/session.hpp"

using namespace splitmail;
using namespace splitmail::relay;

namespace {

class checker final : public recipient_checker {
public:
    rcpt_verdict check_recipient(const address::mailbox& m) override {
        if (m.domain != "example.test") return rcpt_verdict::not_local;
        auto l = address::lower_ascii(m.local);
        return l == "alice" || l == "bob" || l == "carol" ? rcpt_verdict::local_ok
                                                          : rcpt_verdict::unknown;
    }
};

class fake_network final : public rcpt_error_tracker {
public:
    std::size_t refusals = 0;
    std::size_t limit = 1000;
    bool over_limit() override { return refusals >= limit; }
    void refused() override { ++refusals; }
};

struct run {
    std::string transcript; // replies, "[delay N]" for delay actions, "[close]"
    std::size_t delivered = 0;
    bool closed = false;
};

session_config limits_config() {
    session_config c;
    c.hostname = "mx.example.test";
    c.max_recipients = 100;
    c.max_bad_commands = 10;
    c.max_junk_commands = 4;
    c.rcpt_errors_before_delay = 2;
    c.rcpt_error_delay = std::chrono::milliseconds(1500);
    c.max_rcpt_errors = 5;
    c.forbid_improper_pipelining = false; // scripts are fed whole
    return c;
}

run play_once(const std::string& input, session_config cfg, fake_network* net, bool bytewise) {
    cfg.network = net;
    checker ck;
    memory_sink sink;
    smtp_session s(cfg, ck, peer_info{"192.0.2.7", ""}, sink);
    run r;
    std::function<void(std::vector<action>)> apply = [&](std::vector<action> acts) {
        for (auto& a : acts) {
            EXPECT_FALSE(r.closed) << "action after close";
            switch (a.type) {
            case action::kind::send: r.transcript += a.reply.format(); break;
            case action::kind::delay:
                r.transcript += "[delay " + std::to_string(a.delay.count()) + "]";
                break;
            case action::kind::close:
                r.transcript += "[close]";
                r.closed = true;
                break;
            case action::kind::deliver:
                sink.delivered();
                ++r.delivered;
                apply(s.delivery_result(smtp::make_reply(250, "2.0.0", "Ok: queued")));
                break;
            case action::kind::start_tls:
            case action::kind::authenticate: ADD_FAILURE() << "unexpected action"; break;
            }
        }
    };
    apply(s.greet());
    if (bytewise)
        for (char c : input) apply(s.feed(std::string_view(&c, 1)));
    else
        apply(s.feed(input));
    return r;
}

run play(const std::string& input, session_config cfg = limits_config(),
         std::size_t network_limit = 1000, std::size_t* network_refusals = nullptr) {
    fake_network n1, n2;
    n1.limit = n2.limit = network_limit;
    auto whole = play_once(input, cfg, &n1, false);
    auto bytes = play_once(input, cfg, &n2, true);
    EXPECT_EQ(whole.transcript, bytes.transcript);
    EXPECT_EQ(n1.refusals, n2.refusals);
    if (network_refusals) *network_refusals = n1.refusals;
    return whole;
}

std::string repeat(const std::string& s, int n) {
    std::string out;
    for (int i = 0; i < n; ++i) out += s;
    return out;
}

const std::string unknown = "550 5.1.1 Error: user unknown\r\n";
const std::string ok_rcpt = "250 2.1.5 Ok\r\n";
const std::string msg = "DATA\r\nSubject: x\r\n\r\nhi\r\n.\r\n";

} // namespace

TEST(smtp_session_limits, junk_commands_421_past_the_limit) {
    auto r = play("HELO a\r\nNOOP\r\nRSET\r\nVRFY x\r\nHELP\r\nNOOP\r\nMAIL FROM:<a@b.test>\r\n");
    EXPECT_EQ(r.transcript,
              "220 mx.example.test ESMTP\r\n250 mx.example.test\r\n250 2.0.0 Ok\r\n"
              "250 2.0.0 Ok\r\n252 2.5.0 Cannot VRFY user; try RCPT\r\n214 2.0.0 See RFC 5321\r\n"
              "421 4.7.0 mx.example.test Error: too many commands without a message, closing "
              "connection\r\n[close]");
    // A repeated HELO/EHLO and EXPN count too.
    r = play("EHLO a\r\nEHLO a\r\nHELO a\r\nEXPN x\r\nEHLO a\r\nEHLO a\r\n");
    EXPECT_TRUE(r.closed) << r.transcript;
    EXPECT_NE(r.transcript.find("421 4.7.0"), std::string::npos);
}

TEST(smtp_session_limits, junk_count_restarts_with_each_accepted_message) {
    // 3 junk commands per message, 3 messages: 9 in total, never 4 in a row without progress.
    const std::string one =
        "NOOP\r\nRSET\r\nNOOP\r\nMAIL FROM:<a@b.test>\r\nRCPT TO:<alice@example.test>\r\n" + msg;
    auto r = play("HELO a\r\n" + repeat(one, 3) + "QUIT\r\n");
    EXPECT_EQ(r.delivered, 3u) << r.transcript;
    EXPECT_EQ(r.transcript.find("421"), std::string::npos) << r.transcript;
    EXPECT_NE(r.transcript.find("221 2.0.0 Bye"), std::string::npos);
    // Trusted networks (the home server) are never cut off for chatting.
    auto cfg = limits_config();
    cfg.relay_allowed = true;
    r = play("HELO a\r\n" + repeat("NOOP\r\n", 20) + "QUIT\r\n", cfg);
    EXPECT_EQ(r.transcript.find("421"), std::string::npos) << r.transcript;
}

TEST(smtp_session_limits, refused_rcpts_tarpit_then_421) {
    std::size_t net = 0;
    auto r =
        play("HELO a\r\nMAIL FROM:<x@y.test>\r\n" + repeat("RCPT TO:<nobody@example.test>\r\n", 3) +
                 "RSET\r\n" + "MAIL FROM:<x@y.test>\r\nRCPT TO:<alice@example.test>\r\n" +
                 "RCPT TO:<x@foreign.test>\r\n" + repeat("RCPT TO:<nobody@example.test>\r\n", 5),
             limits_config(), 1000, &net);
    EXPECT_EQ(r.transcript,
              "220 mx.example.test ESMTP\r\n250 mx.example.test\r\n250 2.1.0 Ok\r\n" + unknown +
                  unknown + "[delay 1500]" + unknown + "250 2.0.0 Ok\r\n250 2.1.0 Ok\r\n" +
                  ok_rcpt + "[delay 1500]554 5.7.1 Relay access denied\r\n[delay 1500]" + unknown +
                  "421 4.7.0 mx.example.test Error: too many refused recipients, closing "
                  "connection\r\n[close]");
    EXPECT_EQ(net, 5u); // every refusal reached the network counter, nothing after the close
}

TEST(smtp_session_limits, a_few_typos_are_never_slowed) {
    auto r = play("HELO a\r\nMAIL FROM:<x@y.test>\r\nRCPT TO:<alice@example.test>\r\n"
                  "RCPT TO:<alcie@example.test>\r\nRCPT TO:<bob@example.test>\r\n"
                  "RCPT TO:<bbo@example.test>\r\nRCPT TO:<carol@example.test>\r\n" +
                  msg);
    EXPECT_EQ(r.transcript.find("[delay"), std::string::npos) << r.transcript;
    EXPECT_EQ(r.delivered, 1u);
    // Tarpit off: refusals are counted but never delayed.
    auto cfg = limits_config();
    cfg.rcpt_error_delay = std::chrono::milliseconds(0);
    r = play("HELO a\r\nMAIL FROM:<x@y.test>\r\n" + repeat("RCPT TO:<nobody@example.test>\r\n", 6),
             cfg);
    EXPECT_EQ(r.transcript.find("[delay"), std::string::npos) << r.transcript;
    EXPECT_TRUE(r.closed);
}

TEST(smtp_session_limits, network_over_limit_refuses_rcpt_with_421) {
    // The tracker says the client's network already probed too much: the first RCPT, even to a
    // real user, gets 421 (temporary) and the connection closes.
    auto r = play("HELO a\r\nMAIL FROM:<x@y.test>\r\nRCPT TO:<alice@example.test>\r\n",
                  limits_config(), 0);
    EXPECT_EQ(r.transcript,
              "220 mx.example.test ESMTP\r\n250 mx.example.test\r\n250 2.1.0 Ok\r\n"
              "421 4.7.0 mx.example.test Error: too many refused recipients from your network, "
              "try again later\r\n[close]");
    // Reached during the session: the refusal that crosses the limit is answered, the next
    // RCPT is not.
    std::size_t net = 0;
    r = play("HELO a\r\nMAIL FROM:<x@y.test>\r\n" + repeat("RCPT TO:<nobody@example.test>\r\n", 2) +
                 "RCPT TO:<alice@example.test>\r\n",
             limits_config(), 2, &net);
    EXPECT_EQ(r.transcript, "220 mx.example.test ESMTP\r\n250 mx.example.test\r\n250 2.1.0 Ok\r\n" +
                                unknown + unknown +
                                "421 4.7.0 mx.example.test Error: too many refused recipients "
                                "from your network, try again later\r\n[close]");
    EXPECT_EQ(net, 2u);
    // Trusted clients (the home server) are neither counted nor refused.
    auto cfg = limits_config();
    cfg.relay_allowed = true;
    r = play("HELO a\r\nMAIL FROM:<x@y.test>\r\n" + repeat("RCPT TO:<nobody@example.test>\r\n", 8) +
                 "RCPT TO:<alice@example.test>\r\n",
             cfg, 0, &net);
    EXPECT_EQ(net, 0u);
    EXPECT_FALSE(r.closed) << r.transcript;
    EXPECT_EQ(r.transcript.find("[delay"), std::string::npos) << r.transcript;
}
